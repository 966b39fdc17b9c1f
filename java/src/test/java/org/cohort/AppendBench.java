package org.cohort;

import java.util.ArrayList;
import java.util.List;

/*
 * The cost of the binding on a durable append, next to bench_append (C):
 *
 *	java -cp build/java/cohort.jar:build/java/test-classes \
 *	    -Dcohort.jni.library=$PWD/build/libcohort-jni.so \
 *	    org.cohort.AppendBench ROOT NODE STATE SECONDS BATCH
 *
 * Appends 128-byte records (BATCH per commit) for SECONDS after a warm-up
 * of 50 commits, and prints "commits=C records=R seconds=T rate=R/T" in
 * bench_append's format.  Not a test: JUnit finds no @Test here.
 */
public final class AppendBench {
	private AppendBench() {
	}

	public static void main(String[] args) {
		double seconds = Double.parseDouble(args[3]);
		int batch = Integer.parseInt(args[4]);
		List<Entry> entries = new ArrayList<>();
		for (int i = 0; i < batch; i++)
			entries.add(new Entry("bench", new byte[128]));
		Cluster.init(args[0]);
		try (Cluster c = Cluster.open(args[0], args[1], args[2]); Journal j = c.openJournal()) {
			c.join();
			for (int i = 0; i < 50; i++)
				j.append(entries);
			long commits = 0, start = System.nanoTime(), end = start + (long) (seconds * 1e9), now;
			while ((now = System.nanoTime()) < end) {
				j.append(entries);
				commits++;
			}
			double t = (now - start) / 1e9;
			System.out.printf("commits=%d records=%d seconds=%.3f rate=%.0f%n", commits,
				commits * batch, t, commits * batch / t);
		}
	}
}
