package org.cohort;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;

/*
 * Two JVMs as two nodes of one cluster, each through its own bindfs view
 * of the shared folder (no inotify across views: the watcher must poll,
 * as on NFS).  The second JVM runs the programs of examples/java.
 */
class TwoNodeTest {
	private static final String WATCH_LINE = "(\\d+) (\\S+) (\\S+) (.*)";

	/* SIGTERM stops a watching example between two records. */
	private static void stopped(TestEnv.Peer p, long rev) throws Exception {
		assertEquals(143, p.stop(), "the JVM's status after SIGTERM");
		assertTrue(p.output().contains("stopped at revision " + rev), p.output().toString());
	}

	private static void revisionReaches(Cluster c, String node, long rev) throws Exception {
		long end = System.nanoTime() + 20_000_000_000L;
		while (c.nodeRevision(node) < rev && System.nanoTime() < end)
			Thread.sleep(20);
		assertEquals(rev, c.nodeRevision(node));
	}

	@Test
	void appendInOneJvmWatchInTheOther() throws Exception {
		String root = "appendwatch";
		try (Cluster a = TestEnv.open(1, root, "a"); Journal j = a.openJournal();
		     TestEnv.Peer b = TestEnv.spawn("Watch", TestEnv.root(2, root), "b",
						    TestEnv.state(root, "b"))) {
			a.join();
			b.expect("watching from revision 0", 60);
			long first = j.append("note", "one");
			long[] more = { j.append("note", "two"),
					j.append(Arrays.asList(Entry.of("batch", "three"), Entry.of("batch", "four"))) };
			assertEquals(first + 1, more[0]);
			assertEquals(first + 2, more[1]);
			String[] want = { "1 a note one", "2 a note two", "3 a batch three", "4 a batch four" };
			for (String w : want)
				assertEquals(w, b.expect(WATCH_LINE, 30));
			/* b's revision file moves after each record it applied. */
			revisionReaches(a, "b", 4);
			assertEquals(4, j.nodeRevision("b"));
			stopped(b, 4);
			Cluster.Status st = a.status();
			assertEquals(4, st.head);
			assertEquals(2, st.nodes.size());
			assertEquals("a", st.nodes.get(0).id);
			assertEquals(4, st.nodes.get(1).revision);
		}
	}

	@Test
	void appendExampleInAnotherJvm() throws Exception {
		String root = "appendexample";
		try (Cluster a = TestEnv.open(1, root, "a"); Journal j = a.openJournal()) {
			a.join();
			try (TestEnv.Peer b = TestEnv.spawn("Append", TestEnv.root(2, root), "b",
							    TestEnv.state(root, "b"), "note", "one", "two")) {
				assertEquals("1", b.expect(".*", 60));
				assertEquals("2", b.expect(".*", 30));
				assertEquals(0, b.process.waitFor());
			}
			/* No TEXT: the lines of standard input are one commit. */
			try (TestEnv.Peer b = TestEnv.spawn("Append", TestEnv.root(2, root), "b",
							    TestEnv.state(root, "b"), "line")) {
				try (java.io.OutputStream o = b.process.getOutputStream()) {
					o.write("x\ny\nz\n".getBytes(java.nio.charset.StandardCharsets.UTF_8));
				}
				for (String want : new String[] { "3", "4", "5" })
					assertEquals(want, b.expect(".*", 60));
				assertEquals(0, b.process.waitFor());
			}
			List<String> got = new ArrayList<>();
			assertEquals(5, j.sync(r -> got.add(r.node() + " " + r.type() + " " + r.text())));
			assertEquals(Arrays.asList("b note one", "b note two", "b line x", "b line y", "b line z"), got);
		}
	}

	@Test
	void stoppedNodeCatchesUp() throws Exception {
		String root = "catchup";
		try (Cluster a = TestEnv.open(1, root, "a"); Journal j = a.openJournal()) {
			a.join();
			try (TestEnv.Peer b = TestEnv.spawn("Watch", TestEnv.root(2, root), "b",
							    TestEnv.state(root, "b"))) {
				b.expect("watching from revision 0", 60);
				for (int i = 1; i <= 3; i++)
					j.append("n", "r" + i);
				for (int i = 1; i <= 3; i++)
					assertEquals(i + " a n r" + i, b.expect(WATCH_LINE, 30));
				/* The line comes before the revision moves past it: a
				 * kill between the two replays that record (at least
				 * once).  Kill it idle, after the move. */
				revisionReaches(a, "b", 3);
				b.kill(); /* SIGKILL while idle: a crash */
			}
			List<Entry> batch = new ArrayList<>();
			for (int i = 4; i <= 8; i++)
				j.append("n", "r" + i);
			for (int i = 9; i <= 11; i++)
				batch.add(Entry.of("n", "r" + i));
			assertEquals(9, j.append(batch));
			assertEquals(3, a.nodeRevision("b"));
			try (TestEnv.Peer b = TestEnv.spawn("Watch", TestEnv.root(2, root), "b",
							    TestEnv.state(root, "b"))) {
				b.expect("watching from revision 3", 60);
				for (int i = 4; i <= 11; i++)
					assertEquals(i + " a n r" + i, b.expect(WATCH_LINE, 30));
				j.append("n", "r12");
				assertEquals("12 a n r12", b.expect(WATCH_LINE, 30));
				stopped(b, 12);
				for (String l : b.output())
					assertFalse(l.matches("[1-3] a n .*"), "record applied twice: " + l);
			}
			assertEquals(12, a.nodeRevision("b"));
			/* Both nodes read the same history. */
			try (Cluster b = TestEnv.open(2, root, "b"); Journal jb = b.openJournal()) {
				List<Record> ra = j.read(1, 0), rb = jb.read(1, 0);
				assertEquals(12, rb.size());
				for (int i = 0; i < 12; i++) {
					assertEquals(ra.get(i).rev(), rb.get(i).rev());
					assertEquals("r" + (i + 1), rb.get(i).text());
				}
			}
		}
	}

	@Test
	void installMaterializedOnTheOtherNode() throws Exception {
		String root = "extensions";
		Path dir = TestEnv.work().resolve("plugins-c");
		Path v1 = TestEnv.jar("hello-1.jar", "org.example.hello", "1.0", "version one");
		Path v2 = TestEnv.jar("hello-2.jar", "org.example.hello", "2.0", "version two");
		try (Cluster a = TestEnv.open(1, root, "a"); Store s = a.openStore();
		     TestEnv.Peer c = TestEnv.spawn("InstalledExtensions", TestEnv.root(2, root), "c",
						    TestEnv.state(root, "c"), dir.toString())) {
			a.join();
			c.expect("materialized .* \\(start\\): 0 added, 0 updated, 0 removed, 0 unchanged", 60);
			PackageInfo p = s.install(v1.toString(), null);
			assertEquals("org.example.hello", p.id);
			assertEquals("1.0", p.version);
			assertEquals(Files.size(v1), p.size);
			c.expect("\\+ org.example.hello-1.0.jar", 30);
			c.expect("materialized .*: 1 added, 0 updated, 0 removed, 0 unchanged", 30);
			assertArrayEquals(Files.readAllBytes(v1), Files.readAllBytes(dir.resolve(p.fileName())));

			s.install(v2.toString(), null); /* an upgrade */
			c.expect("\\+ org.example.hello-2.0.jar", 30);
			c.expect("- org.example.hello-1.0.jar", 30);
			assertArrayEquals(Files.readAllBytes(v2), Files.readAllBytes(dir.resolve("org.example.hello-2.0.jar")));
			assertFalse(Files.exists(dir.resolve("org.example.hello-1.0.jar")));

			/* The other node reads the bytes through its own view, from an offset. */
			try (Cluster b = TestEnv.open(2, root, "b"); Store sb = b.openStore();
			     InputStream in = sb.open(null, "org.example.hello", null, 10)) {
				byte[] all = Files.readAllBytes(v2);
				assertArrayEquals(Arrays.copyOfRange(all, 10, all.length), in.readAllBytes());
				assertEquals(1, sb.list(null).size());
			}

			s.uninstall(null, "org.example.hello", false);
			c.expect("- org.example.hello-2.0.jar", 30);
			assertFalse(Files.exists(dir.resolve("org.example.hello-2.0.jar")));
			assertTrue(s.list(null).isEmpty());
			stopped(c, 3); /* install, upgrade, uninstall */
		}
	}
}
