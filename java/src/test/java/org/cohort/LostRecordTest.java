package org.cohort;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/*
 * A committed record damaged on the shared root and replaced as lost by
 * 'cohort fsck --repair': sync stops there with ELOST, and passes it when
 * told to accept the loss; the node runtime does the same.
 */
class LostRecordTest {
	private static final String MARK = "damage-me-".repeat(8);

	/* Flip one byte of the only segment that holds MARK (through view 1). */
	private static void damage(String root) throws IOException {
		Path journal = Path.of(TestEnv.view(1), root, "journal");
		List<Path> segs;
		try (Stream<Path> s = Files.list(journal)) {
			segs = s.filter(p -> p.getFileName().toString().startsWith("seg-")).collect(Collectors.toList());
		}
		byte[] mark = MARK.getBytes(StandardCharsets.US_ASCII);
		for (Path seg : segs) {
			byte[] b = Files.readAllBytes(seg);
			for (int i = 0; i + mark.length <= b.length; i++) {
				int k = 0;
				while (k < mark.length && b[i + k] == mark[k])
					k++;
				if (k == mark.length) {
					try (RandomAccessFile f = new RandomAccessFile(seg.toFile(), "rw")) {
						f.seek(i + 3);
						f.write(b[i + 3] ^ 0x20);
						f.getFD().sync();
					}
					return;
				}
			}
		}
		throw new AssertionError("no segment holds the record to damage: " + segs);
	}

	private static void repair(String root) throws Exception {
		Process p = new ProcessBuilder(TestEnv.property("cohort.test.cohort"), "--root",
			TestEnv.root(1, root), "--node", "fixer", "--state", TestEnv.state(root, "fixer"),
			"fsck", "--repair").redirectErrorStream(true).start();
		String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
		assertEquals(1, p.waitFor(), "fsck --repair: 1 (problems found and all repaired): " + out);
	}

	@Test
	void aLostRecordStopsTheSyncUnlessTheLossIsAccepted() throws Exception {
		String root = "lost";
		try (Cluster c = TestEnv.open(1, root, "a"); Journal j = c.openJournal()) {
			c.join();
			j.append("t", "before");
			j.append("t", MARK);
			j.append("t", "after");
			damage(root);
			repair(root);
			assertEquals(Journal.class, j.getClass());
			Record lost = j.read(2, 1).get(0);
			assertEquals("cohort.lost", lost.type());
			List<String> seen = new ArrayList<>();
			CohortException x = assertThrows(CohortException.class, () -> j.sync(r -> seen.add(r.text())));
			assertEquals(CohortException.ELOST, x.code(), x.toString());
			assertEquals("ELOST", x.codeName());
			assertEquals(List.of("before"), seen);
			assertEquals(1, j.revision());
			/* The count includes the lost record passed (the library's). */
			assertEquals(2, j.sync(r -> seen.add(r.text()), true));
			assertEquals(List.of("before", "after"), seen);
			assertEquals(3, j.revision());
		}
		/* The node runtime: stops at it, or passes it with skipLost. */
		try (Cluster c = TestEnv.open(1, root, "n")) {
			List<String> seen = new ArrayList<>();
			Node.Listener l = new Node.Listener() {
				@Override
				public void apply(Record r) {
					seen.add(r.text());
				}
			};
			try (Node n = c.startNode(new Node.Options().listener(l))) {
				CohortException x = assertThrows(CohortException.class, n::step);
				assertEquals(CohortException.ELOST, x.code(), x.toString());
				assertEquals(1, n.revision());
			}
			try (Node n = c.startNode(new Node.Options().skipLost(true).listener(l))) {
				n.step();
				assertEquals(3, n.revision());
			}
			assertEquals(List.of("before", "after"), seen);
			assertTrue(c.status().nodes.size() >= 2);
		}
	}
}
