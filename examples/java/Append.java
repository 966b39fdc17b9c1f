/*
 * Append.java - append records to the cluster journal from a Java program.
 *
 *	java -cp cohort.jar:. Append ROOT NODE STATE TYPE TEXT...
 *
 * Each TEXT is one record of TYPE; with no TEXT, every line of standard
 * input is one record and all of them are one atomic commit.  Prints each
 * new revision once it is durable on the shared mount.  The other half of
 * the pair is Watch.java.
 */
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.cohort.Cluster;
import org.cohort.CohortException;
import org.cohort.Entry;
import org.cohort.Journal;

public final class Append {
	private Append() {
	}

	public static void main(String[] args) throws Exception {
		if (args.length < 4) {
			System.err.println("usage: Append ROOT NODE STATE TYPE [TEXT...]");
			System.exit(2);
		}
		try (Cluster c = Cluster.open(args[0], args[1], args[2]);
		     Journal j = c.openJournal()) {
			c.join();
			if (args.length > 4) {
				for (int i = 4; i < args.length; i++)
					System.out.println(j.append(args[3], args[i]));
				return;
			}
			List<Entry> batch = new ArrayList<>();
			BufferedReader in = new BufferedReader(
				new InputStreamReader(System.in, StandardCharsets.UTF_8));
			for (String line; (line = in.readLine()) != null;)
				batch.add(Entry.of(args[3], line));
			if (batch.isEmpty())
				return;
			long first = j.append(batch);
			for (int i = 0; i < batch.size(); i++)
				System.out.println(first + i);
		} catch (CohortException e) {
			System.err.println("cohort: " + e.getMessage());
			System.exit(1);
		}
	}
}
