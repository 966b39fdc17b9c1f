package org.cohort;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/*
 * Bad input gives exceptions, never a crash of the JVM, and loses nothing
 * that was committed: nulls, closed handles, handles used from their own
 * listener, hostile names, huge payloads, hostile packages, listeners
 * that throw, a close racing with appends on other threads.
 */
class BadInputTest {
	/* Names that must never become a file name or a record field. */
	private static final String[] HOSTILE = { "", "../x", "a/b", "/etc", ".hidden", "-rf",
		"a\nb", "a\0b", "tab\there", "\u00e9t\u00e9", "\ud83d\ude00", "..", "a b",
		"x".repeat(300) };

	private static void assertCode(int code, Executable e) {
		CohortException x = assertThrows(CohortException.class, e);
		assertEquals(code, x.code(), x.toString());
		assertFalse(x.getMessage().isEmpty());
	}

	/* The committed history, to compare before and after. */
	private static List<String> history(Journal j) {
		return j.read(1, 0).stream().map(r -> r.rev() + " " + r.node() + " " + r.type() + " "
			+ r.text()).collect(Collectors.toList());
	}

	private static Set<String> tree(Path p) throws IOException {
		try (Stream<Path> s = Files.walk(p)) {
			return s.map(x -> p.relativize(x).toString()).collect(Collectors.toCollection(TreeSet::new));
		}
	}

	@Test
	void nullsThrowAndLoseNothing() throws Exception {
		try (Cluster c = TestEnv.open(1, "nulls", "a"); Journal j = c.openJournal();
		     Store s = c.openStore()) {
			c.join();
			j.append("t", "kept");
			List<String> before = history(j);
			assertThrows(NullPointerException.class, () -> Cluster.open(null));
			assertThrows(NullPointerException.class, () -> Cluster.open(new Cluster.Options()));
			assertThrows(NullPointerException.class, () -> Cluster.init(null));
			assertThrows(NullPointerException.class, () -> j.append("t", (byte[]) null));
			assertThrows(NullPointerException.class, () -> j.append("t", (String) null));
			assertThrows(NullPointerException.class, () -> j.append((List<Entry>) null));
			assertThrows(NullPointerException.class, () -> j.append(Arrays.asList(Entry.of("t", "x"), null)));
			assertThrows(NullPointerException.class, () -> j.sync(null));
			assertThrows(NullPointerException.class, () -> j.nodeRevision(null));
			assertThrows(NullPointerException.class, () -> s.install(null, null));
			assertThrows(NullPointerException.class, () -> s.uninstall(null, null, false));
			assertThrows(NullPointerException.class, () -> s.find(null, null, null));
			assertThrows(NullPointerException.class, () -> s.materialize(null, null));
			assertThrows(NullPointerException.class, () -> s.open(null, null, null, 0));
			assertThrows(NullPointerException.class, () -> c.config(null, "x"));
			/* A null type is "data". */
			long rev = j.append(null, "typed by default");
			assertEquals("data", j.read(rev, 1).get(0).type());
			assertEquals(before, history(j).subList(0, before.size()));
			assertEquals(before.size() + 1, history(j).size());
		}
	}

	@Test
	void closedHandlesThrowIllegalState() throws Exception {
		Cluster c = TestEnv.open(1, "closed", "a");
		Journal j = c.openJournal();
		Store s = c.openStore();
		c.join();
		long rev = j.append("t", "before close");
		j.close();
		j.close(); /* twice is fine */
		assertTrue(j.isClosed());
		List<Executable> calls = Arrays.asList(() -> j.append("t", "x"), () -> j.head(),
			() -> j.tail(), () -> j.read(1, 0), () -> j.revision(), () -> j.setRevision(1),
			() -> j.sync(r -> { }), () -> j.watch(r -> { }), () -> j.await(0, 10),
			() -> j.pollIntervalMillis(), () -> j.nodeRevision("a"));
		for (Executable e : calls)
			assertThrows(IllegalStateException.class, e);
		/* Closing the cluster closes what was opened from it. */
		c.close();
		assertTrue(s.isClosed());
		for (Executable e : Arrays.<Executable>asList(() -> s.list(null), () -> s.materialize("/tmp/x", null),
				() -> s.install("/nonexistent.jar", null), () -> s.open(null, "x", null, 0),
				() -> c.status(), () -> c.join(), () -> c.leave(), () -> c.openJournal(),
				() -> c.openStore(), () -> c.config("cluster", "lock_mode"), () -> c.nodeRevision("a")))
			assertThrows(IllegalStateException.class, e);
		c.close();
		/* Nothing was lost. */
		try (Cluster c2 = TestEnv.open(1, "closed", "a"); Journal j2 = c2.openJournal()) {
			assertEquals("before close", j2.read(rev, 1).get(0).text());
		}
	}

	@Test
	void hostileNamesAreRefusedBeforeAnythingIsWritten() throws Exception {
		Path shared = Path.of(TestEnv.view(1));
		try (Cluster c = TestEnv.open(1, "hostile", "a"); Journal j = c.openJournal();
		     Store s = c.openStore()) {
			c.join();
			j.append("t", "kept");
			List<String> before = history(j);
			Set<String> files = tree(shared.resolve("hostile"));
			Path dir = TestEnv.work().resolve("hostile-plugins");
			Path jar = TestEnv.jar("good.jar", "org.example.good", "1.0", "good");
			for (String h : HOSTILE) {
				assertCode(CohortException.EINVAL, () -> j.append(h, "x"));
				assertCode(CohortException.EINVAL, () -> j.append(Arrays.asList(Entry.of("ok", "x"), Entry.of(h, "y"))));
				assertCode(CohortException.EINVAL, () -> Cluster.open(TestEnv.root(1, "hostile"), h,
					TestEnv.state("hostile", "h")).close());
				assertCode(CohortException.EINVAL, () -> s.list(h));
				assertCode(CohortException.EINVAL, () -> s.materialize(dir.toString(), h));
				assertCode(CohortException.EINVAL, () -> s.uninstall(null, h, true));
				assertCode(CohortException.EINVAL, () -> s.uninstall(h, "org.example.good", true));
				assertCode(CohortException.EINVAL, () -> s.find(null, h, null));
				assertCode(CohortException.EINVAL, () -> s.open(null, h, null, 0));
				assertCode(CohortException.EINVAL, () -> s.install(jar.toString(), new Store.InstallOptions().namespace(h)));
				assertCode(CohortException.EINVAL, () -> s.install(jar.toString(), new Store.InstallOptions().as(h, "1.0")));
				assertCode(CohortException.EINVAL, () -> s.install(jar.toString(), new Store.InstallOptions().as("org.example.good", h)));
				assertCode(CohortException.EINVAL, () -> j.nodeRevision(h));
			}
			/* The store's own record types cannot be forged. */
			assertCode(CohortException.EINVAL, () -> j.append("store.install", "{}"));
			assertCode(CohortException.EINVAL, () -> j.append(Collections.emptyList()));
			assertEquals(before, history(j));
			assertEquals(files, tree(shared.resolve("hostile")), "files appeared on the root");
			assertTrue(s.list(null).isEmpty());
			assertEquals(1, c.status().nodes.size());
		}
	}

	@Test
	void hugePayloadsAreRefusedWholeAndTheLimitWorks() throws Exception {
		try (Cluster c = TestEnv.open(1, "huge", "a"); Journal j = c.openJournal()) {
			c.join();
			j.append("t", "kept");
			List<String> before = history(j);
			byte[] over = new byte[Journal.RECORD_MAX + 1];
			assertCode(CohortException.EINVAL, () -> j.append("big", over));
			assertCode(CohortException.EINVAL, () -> j.append(Arrays.asList(
				new Entry("small", new byte[] { 1 }), new Entry("big", over))));
			assertEquals(before, history(j), "a refused batch committed something");
			byte[] max = new byte[Journal.RECORD_MAX];
			for (int i = 0; i < max.length; i += 4096)
				max[i] = (byte) (i >>> 12);
			max[max.length - 1] = 42;
			long rev = j.append("big", max);
			Record r = j.read(rev, 1).get(0);
			assertArrayEquals(max, r.data());
			assertEquals(rev, j.head());
			/* An empty payload is a record too. */
			long e = j.append("empty", new byte[0]);
			assertEquals(0, j.read(e, 1).get(0).data().length);
		}
	}

	@Test
	void hostilePackagesAreRefusedAndNothingIsListed() throws Exception {
		Path evil = TestEnv.work().resolve("evil.zip");
		try (ZipOutputStream z = new ZipOutputStream(Files.newOutputStream(evil))) {
			z.putNextEntry(new ZipEntry("../../escape.txt"));
			z.write("out".getBytes(StandardCharsets.UTF_8));
			z.closeEntry();
		}
		Path torn = TestEnv.work().resolve("torn.jar");
		byte[] good = Files.readAllBytes(TestEnv.jar("whole.jar", "org.example.torn", "1.0", "x".repeat(5000)));
		try (OutputStream o = Files.newOutputStream(torn)) {
			o.write(good, 0, good.length / 2);
		}
		try (Cluster c = TestEnv.open(1, "packages", "a"); Store s = c.openStore()) {
			c.join();
			assertCode(CohortException.EINVAL, () -> s.install(evil.toString(), new Store.InstallOptions().as("evil", "1")));
			assertThrows(CohortException.class, () -> s.install(torn.toString(), null));
			assertThrows(CohortException.class, () -> s.install(TestEnv.work().resolve("missing.jar").toString(), null));
			assertTrue(s.list(null).isEmpty());
			assertCode(CohortException.ENOTFOUND, () -> s.find(null, "evil", null));
			assertCode(CohortException.ENOTFOUND, () -> s.uninstall(null, "evil", false));
			assertCode(CohortException.ENOTFOUND, () -> s.open(null, "evil", null, 0));
			PackageInfo p = s.install(TestEnv.work().resolve("packages/whole.jar").toString(), null);
			assertCode(CohortException.EINVAL, () -> s.open(null, p.id, null, p.size + 1));
			assertThrows(CohortException.class, () -> s.open(null, p.id, null, -1));
			assertEquals(0, s.open(null, p.id, null, p.size).readAllBytes().length);
			assertFalse(Files.exists(TestEnv.work().resolve("escape.txt")));
		}
		assertCode(CohortException.ENOTFOUND, () -> Cluster.open(TestEnv.root(1, "no-such-cluster"), "a",
			TestEnv.state("none", "a")));
	}

	@Test
	void aListenerThatThrowsStopsTheSyncAtThatRecord() throws Exception {
		try (Cluster c = TestEnv.open(1, "throwing", "a"); Journal j = c.openJournal()) {
			c.join();
			long first = j.append(Arrays.asList(Entry.of("t", "1"), Entry.of("t", "2"), Entry.of("t", "3")));
			List<Long> seen = new ArrayList<>();
			IllegalArgumentException boom = new IllegalArgumentException("boom");
			CohortException x = assertThrows(CohortException.class, () -> j.sync(r -> {
				seen.add(r.rev());
				if (r.rev() == first + 1)
					throw boom;
			}));
			assertSame(boom, x.getCause());
			assertTrue(x.getMessage().contains("revision " + (first + 1)), x.getMessage());
			assertEquals(Arrays.asList(first, first + 1), seen);
			assertEquals(first, j.revision(), "the revision stays at the record before");
			/* The failed record comes again, then the rest. */
			seen.clear();
			assertEquals(2, j.sync(r -> seen.add(r.rev())));
			assertEquals(Arrays.asList(first + 1, first + 2), seen);
			assertEquals(first + 2, j.revision());
			/* A checked exception and an Error stop it the same way. */
			j.append("t", "4");
			assertThrows(CohortException.class, () -> j.sync(r -> {
				throw new IOException("disk");
			}));
			assertThrows(StackOverflowError.class, () -> j.sync(r -> {
				throw new StackOverflowError("deep");
			}));
			assertEquals(first + 2, j.revision());
			assertEquals(1, j.sync(r -> { }));
		}
	}

	@Test
	@SuppressWarnings("try") /* closes a resource on purpose: it must be refused */
	void aListenerCannotUseOrCloseItsOwnHandle() throws Exception {
		try (Cluster c = TestEnv.open(1, "reentry", "a"); Journal j = c.openJournal();
		     Journal other = c.openJournal()) {
			c.join();
			j.append("t", "x");
			List<Class<?>> thrown = new ArrayList<>();
			List<Consumer<Journal>> misuse = Arrays.asList(x -> x.append("t", "y"), x -> x.revision(),
				x -> x.read(1, 0), x -> x.sync(r -> { }), Journal::close);
			j.sync(r -> {
				for (Consumer<Journal> m : misuse)
					try {
						m.accept(j);
					} catch (IllegalStateException e) {
						thrown.add(e.getClass());
					}
				try {
					c.close();
				} catch (IllegalStateException e) {
					thrown.add(e.getClass());
				}
				/* Another handle of the same cluster is fine. */
				other.append("from-listener", "z");
				assertNotNull(c.status());
			});
			assertEquals(6, thrown.size());
			assertFalse(j.isClosed());
			assertFalse(c.isClosed());
			List<Record> all = other.read(1, 0);
			assertEquals("from-listener", all.get(all.size() - 1).type());
		}
	}

	@Test
	void closeRacingWithAppendsOnOtherThreads() throws Exception {
		Cluster c = TestEnv.open(1, "race", "a");
		c.join();
		Journal j = c.openJournal();
		ConcurrentLinkedQueue<String> committed = new ConcurrentLinkedQueue<>();
		AtomicReference<Throwable> unexpected = new AtomicReference<>();
		List<Thread> threads = new ArrayList<>();
		for (int t = 0; t < 6; t++) {
			int id = t;
			threads.add(new Thread(() -> {
				for (int i = 0; ; i++) {
					String text = id + ":" + i;
					try {
						committed.add(j.append("race", text) + " " + text);
					} catch (IllegalStateException e) {
						return; /* closed: the expected end */
					} catch (Throwable e) {
						unexpected.compareAndSet(null, e);
						return;
					}
				}
			}));
		}
		threads.forEach(Thread::start);
		Thread.sleep(1500);
		c.close(); /* closes j under the appenders' feet */
		for (Thread t : threads)
			t.join(30_000);
		for (Thread t : threads)
			assertFalse(t.isAlive());
		assertNull(unexpected.get());
		assertTrue(committed.size() > 6, "only " + committed.size() + " appends");
		/* Every acknowledged append is there, once, at its revision. */
		try (Cluster c2 = TestEnv.open(1, "race", "a"); Journal j2 = c2.openJournal()) {
			Set<String> got = new TreeSet<>();
			for (Record r : j2.read(1, 0))
				got.add(r.rev() + " " + r.text());
			assertTrue(got.containsAll(committed));
			assertEquals(j2.head(), j2.read(1, 0).size());
		}
	}

	@Test
	void watchStopsOnStopAndOnCloseFromAnotherThread() throws Exception {
		try (Cluster c = TestEnv.open(1, "watchstop", "a")) {
			c.join();
			Journal j = c.openJournal();
			List<Long> seen = Collections.synchronizedList(new ArrayList<>());
			Thread w = new Thread(() -> j.watch(r -> {
				seen.add(r.rev());
				if (r.text().equals("stop"))
					j.stop();
			}));
			w.start();
			try (Journal a = c.openJournal()) {
				a.append("t", "1");
				a.append("t", "stop");
				w.join(10_000);
				assertFalse(w.isAlive(), "stop() from the listener ended the watch");
				assertEquals(Arrays.asList(1L, 2L), seen);
				AtomicReference<Throwable> err = new AtomicReference<>();
				Thread w2 = new Thread(() -> {
					try {
						j.watch(r -> seen.add(r.rev()));
					} catch (Throwable e) {
						err.set(e);
					}
				});
				w2.start();
				a.append("t", "3");
				long end = System.nanoTime() + 10_000_000_000L;
				while (seen.size() < 3 && System.nanoTime() < end)
					Thread.sleep(20);
				j.close();
				w2.join(10_000);
				assertFalse(w2.isAlive(), "close() from another thread ended the watch");
				assertNull(err.get());
				assertEquals(Arrays.asList(1L, 2L, 3L), seen);
			}
		}
	}
}
