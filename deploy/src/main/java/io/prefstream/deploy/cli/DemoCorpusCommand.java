package io.prefstream.deploy.cli;

import io.prefstream.deploy.demo.corpus.Length;
import io.prefstream.deploy.demo.corpus.SupportCorpus;
import io.prefstream.deploy.demo.corpus.SupportExchange;
import io.prefstream.deploy.demo.corpus.Tone;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code prefstream demo-corpus}: writes the demo's customer-support exchanges ({@link SupportCorpus})
 * as JSONL for {@code prefstream sft} and {@code init-model --corpus}.
 */
@Command(
    name = "demo-corpus",
    mixinStandardHelpOptions = true,
    description = "Write generated customer-support exchanges (varied in tone, length and keywords) as JSONL for sft.")
public final class DemoCorpusCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--out", required = true, paramLabel = "FILE", description = "JSONL file to write.")
  Path out;

  @Option(names = "--count", defaultValue = "4000", description = "Exchanges. Default: ${DEFAULT-VALUE}.")
  int count;

  @Option(names = "--seed", defaultValue = "0", description = "Default: ${DEFAULT-VALUE}.")
  long seed;

  @Override
  public Integer call() throws IOException {
    if (count < 1) throw new ParameterException(spec.commandLine(), "--count must be >= 1, got " + count);
    List<SupportExchange> ex = SupportCorpus.generate(count, seed);
    SupportCorpus.writeJsonl(out, ex);
    long polite = ex.stream().filter(e -> e.tone() == Tone.POLITE).count();
    long curt = ex.stream().filter(e -> e.tone() == Tone.CURT).count();
    long shortOnes = ex.stream().filter(e -> e.length() == Length.SHORT).count();
    spec.commandLine().getOut().printf("wrote %d exchanges to %s (%d polite, %d neutral, %d curt; %d short, %d long)%n",
        count, out, polite, count - polite - curt, curt, shortOnes, count - shortOnes);
    return 0;
  }
}
