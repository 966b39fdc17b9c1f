package org.cohort;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.Test;

/*
 * The node runtime (cohort/node.h) through org.cohort.Node: a node in this
 * JVM on view 1, the other nodes through view 2 (another JVM appends).
 */
class NodeTest {
	/* Everything the listener was told, in order. */
	static final class Log implements Node.Listener {
		final List<String> events = Collections.synchronizedList(new ArrayList<>());
		volatile long failAt = -1;

		@Override
		public void apply(Record r) {
			if (r.rev() == failAt)
				throw new IllegalStateException("refused " + r.rev());
			events.add("apply " + r.rev() + " " + r.type() + " " + r.text());
		}

		@Override
		public void materialized(String dir, Store.MaterializeStats st) {
			events.add("materialized " + st);
		}

		@Override
		public void materializeFailed(String dir, CohortException e) {
			events.add("materialize failed " + e.codeName());
		}

		@Override
		public void modeChanged(boolean readOnly, String reason) {
			events.add((readOnly ? "ro " : "rw ") + reason);
		}

		boolean has(String prefix) {
			synchronized (events) {
				return events.stream().anyMatch(e -> e.startsWith(prefix));
			}
		}
	}

	private static void waitFor(String what, BooleanSupplier ok, Log log) throws InterruptedException {
		long end = System.nanoTime() + 30_000_000_000L;
		while (!ok.getAsBoolean()) {
			if (System.nanoTime() > end)
				throw new AssertionError("no " + what + " within 30 s; the listener saw " + log.events);
			Thread.sleep(20);
		}
	}

	/* Run 'n' on a thread; what run() threw lands in 'err'. */
	private static Thread running(Node n, AtomicReference<Throwable> err) {
		Thread t = new Thread(() -> {
			try {
				n.run();
			} catch (Throwable e) {
				err.set(e);
			}
		});
		t.start();
		return t;
	}

	@Test
	void nodeAppliesMaterializesAndStops() throws Exception {
		String root = "node";
		Path dir = TestEnv.work().resolve("node-plugins");
		Path jar = TestEnv.jar("node-1.jar", "org.example.node", "1.0", "node");
		Log log = new Log();
		AtomicReference<Throwable> err = new AtomicReference<>();
		try (Cluster c = TestEnv.open(1, root, "n");
		     Node n = c.startNode(new Node.Options().materialize(dir.toString(), null).listener(log))) {
			Thread t = running(n, err);
			waitFor("first materialize", () -> log.has("materialized"), log);
			try (TestEnv.Peer b = TestEnv.spawn("Append", TestEnv.root(2, root), "b",
							    TestEnv.state(root, "b"), "note", "one", "two")) {
				assertEquals(0, b.process.waitFor());
			}
			try (Cluster a = TestEnv.open(2, root, "a"); Store s = a.openStore()) {
				a.join();
				s.install(jar.toString(), null);
			}
			waitFor("the install materialized", () -> log.has("materialized 1 added"), log);
			assertArrayEquals(Files.readAllBytes(jar), Files.readAllBytes(dir.resolve("org.example.node-1.0.jar")));
			n.stop();
			t.join(10_000);
			assertFalse(t.isAlive(), "stop() ended run()");
			assertNull(err.get());
			List<String> applied = new ArrayList<>();
			for (String e : log.events)
				if (e.startsWith("apply "))
					applied.add(e.substring(0, e.lastIndexOf(' ')));
			assertEquals(List.of("apply 1 note", "apply 2 note", "apply 3 store.install"), applied);
			assertEquals("materialized 0 added, 0 updated, 0 removed, 0 unchanged", log.events.get(0));
			assertEquals(3, n.revision());
			assertFalse(n.isReadOnly());
			assertEquals(3, c.nodeRevision("n"));
		}
	}

	@Test
	void aListenerThatThrowsStopsTheNodeAndTheIdIsClaimed() throws Exception {
		String root = "nodefail";
		Log log = new Log();
		try (Cluster c = TestEnv.open(1, root, "n"); Journal j = c.openJournal()) {
			j.append("t", "1");
			j.append("t", "2");
			j.append("t", "3");
			log.failAt = 2;
			try (Node n = c.startNode(new Node.Options().listener(log))) {
				/* One live instance per node id. */
				try (Cluster c2 = TestEnv.open(2, root, "n")) {
					CohortException x = assertThrows(CohortException.class,
						() -> c2.startNode(new Node.Options()));
					assertEquals(CohortException.EEXISTS, x.code(), x.toString());
				}
				CohortException x = assertThrows(CohortException.class, n::run);
				assertTrue(x.getCause() instanceof IllegalStateException, x.toString());
				assertEquals(1, n.revision(), "the revision stays at the record before");
				assertThrows(NullPointerException.class, () -> new Node.Options().listener(null));
			}
			/* Stopped: the id is free again, and the record comes again. */
			log.failAt = -1;
			log.events.clear();
			try (Node n = c.startNode(new Node.Options().listener(log))) {
				n.step();
				assertEquals(List.of("apply 2 t 2", "apply 3 t 3"), log.events);
				assertEquals(3, n.revision());
			}
		}
	}

	@Test
	void staticPriorityModeChangesReachTheListener() throws Exception {
		String root = "nodemode";
		Path conf = Path.of(TestEnv.view(1), root, "cohort.conf");
		Log log = new Log();
		AtomicReference<Throwable> err = new AtomicReference<>();
		try (Cluster hi = TestEnv.open(2, root, "hi"); Cluster c = TestEnv.open(1, root, "n")) {
			Files.writeString(conf, "[cluster]\npriority_mode = static\nstale_after = 2s\nheartbeat_interval = 500ms\n");
			/* The main node (highest priority) registered, not running: stale. */
			hi.join(90, false);
			try (Cluster c2 = TestEnv.open(1, root, "n");
			     Node n = c2.startNode(new Node.Options().priority(10).listener(log))) {
				Thread t = running(n, err);
				waitFor("read-only", () -> log.has("ro the main node 'hi'"), log);
				assertTrue(n.isReadOnly());
				assertTrue(n.readOnlyReason().contains("static priority mode"), n.readOnlyReason());
				CohortException x = assertThrows(CohortException.class, () -> {
					try (Journal j = c.openJournal()) {
						j.append("t", "refused");
					}
				});
				assertEquals(CohortException.EREADONLY, x.code(), x.toString());
				/* The main node comes up: the others turn read-write. */
				try (Node main = hi.startNode(new Node.Options())) {
					main.step();
					waitFor("read-write", () -> log.has("rw "), log);
					assertFalse(n.isReadOnly());
				}
				n.stop();
				t.join(10_000);
				assertFalse(t.isAlive());
				assertNull(err.get());
			}
		}
		assertSame(null, err.get());
	}
}
