/*
 * Watch.java - apply the cluster journal in a Java program: what this node
 * missed first, then every new record as it is committed.
 *
 *	java -cp cohort.jar:. Watch ROOT NODE STATE
 *
 * Prints "REV NODE TYPE TEXT" for each record as it applies it; the node's
 * revision moves after each, so a restarted Watch goes on where the last
 * one stopped.  SIGTERM or Ctrl-C stop it between two records (the JVM
 * then exits with status 143, as it does after any SIGTERM).  The other
 * half of the pair is Append.java.
 */
import java.util.concurrent.CountDownLatch;

import org.cohort.Cluster;
import org.cohort.CohortException;
import org.cohort.Journal;

public final class Watch {
	private Watch() {
	}

	public static void main(String[] args) throws Exception {
		if (args.length != 3) {
			System.err.println("usage: Watch ROOT NODE STATE");
			System.exit(2);
		}
		CountDownLatch done = new CountDownLatch(1);
		int rc = 0;
		try (Cluster c = Cluster.open(args[0], args[1], args[2]);
		     Journal j = c.openJournal()) {
			c.join();
			/* On SIGTERM: stop the watch and let main close the handles. */
			Runtime.getRuntime().addShutdownHook(new Thread(() -> {
				j.stop();
				try {
					done.await();
				} catch (InterruptedException e) {
					Thread.currentThread().interrupt();
				}
			}));
			System.out.println("watching from revision " + j.revision());
			System.out.flush();
			j.watch(r -> {
				System.out.println(r.rev() + " " + r.node() + " " + r.type() + " " + r.text());
				System.out.flush();
			});
			System.out.println("stopped at revision " + j.revision());
			System.out.flush();
		} catch (CohortException e) {
			System.err.println("cohort: " + e.getMessage());
			rc = 1;
		} finally {
			done.countDown(); /* before exit(): the hook waits for it */
		}
		if (rc != 0)
			System.exit(rc);
	}
}
