/*
 * InstalledExtensions.java - what a Java platform (XWiki, RHQ, GeoNetwork)
 * writes to keep its plugin folder identical to the cluster's installed
 * extensions: an "installed extensions" listener.
 *
 *	java -cp cohort.jar:. InstalledExtensions ROOT NODE STATE DIR [NS]
 *
 * Joins as NODE, makes DIR hold exactly the installed packages (of
 * namespace NS and the root namespace), then watches the journal: every
 * install or uninstall, by any node, is a 'store.*' record, after which it
 * materializes DIR again and logs what changed ("+ name", "- name").
 * A node that was down catches up when it starts.  SIGTERM stops it.
 */
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;

import org.cohort.Cluster;
import org.cohort.CohortException;
import org.cohort.Journal;
import org.cohort.PackageInfo;
import org.cohort.Store;

public final class InstalledExtensions {
	private final Store store;
	private final String dir;
	private final String ns;
	private Set<String> installed = new TreeSet<>();

	private InstalledExtensions(Store store, String dir, String ns) {
		this.store = store;
		this.dir = dir;
		this.ns = ns;
	}

	/* Materialize and log the difference with what was there before. */
	private void refresh(String why) {
		Store.MaterializeStats st = store.materialize(dir, ns);
		Set<String> now = new TreeSet<>();
		for (PackageInfo p : store.list(ns))
			now.add(p.fileName());
		for (String n : now)
			if (!installed.contains(n))
				log("+ " + n);
		for (String n : installed)
			if (!now.contains(n))
				log("- " + n);
		log("materialized " + dir + " (" + why + "): " + st);
		installed = now;
	}

	private static void log(String s) {
		System.out.println(s);
		System.out.flush();
	}

	public static void main(String[] args) throws Exception {
		if (args.length != 4 && args.length != 5) {
			System.err.println("usage: InstalledExtensions ROOT NODE STATE DIR [NS]");
			System.exit(2);
		}
		CountDownLatch done = new CountDownLatch(1);
		int rc = 0;
		try (Cluster c = Cluster.open(args[0], args[1], args[2]);
		     Journal j = c.openJournal();
		     Store s = c.openStore()) {
			InstalledExtensions x = new InstalledExtensions(s, args[3],
				args.length == 5 ? args[4] : null);
			c.join();
			Runtime.getRuntime().addShutdownHook(new Thread(() -> {
				j.stop();
				try {
					done.await();
				} catch (InterruptedException e) {
					Thread.currentThread().interrupt();
				}
			}));
			x.refresh("start");
			/* The store's state is the journal's: a store.* record is
			 * an install or uninstall.  A materialize that fails throws,
			 * which stops the watch at that record: it comes again. */
			j.watch(r -> {
				if (r.type().startsWith("store."))
					x.refresh("revision " + r.rev());
			});
			log("stopped at revision " + j.revision());
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
