package io.prefstream.model.llama;

/**
 * One sequence to score: prompt tokens (at least one, e.g. BOS, since the first response token is
 * predicted from the last prompt position) followed by response tokens, whose log-probabilities are
 * summed.
 */
public record PromptResponse(int[] prompt, int[] response) {
  public PromptResponse {
    if (prompt.length < 1) throw new IllegalArgumentException("prompt must have at least one token (e.g. BOS), got none");
    prompt = prompt.clone();
    response = response.clone();
  }

  public int length() {
    return prompt.length + response.length;
  }

  @Override
  public int[] prompt() {
    return prompt.clone();
  }

  @Override
  public int[] response() {
    return response.clone();
  }

  int promptToken(int i) {
    return prompt[i];
  }

  int responseToken(int i) {
    return response[i];
  }

  int promptLength() {
    return prompt.length;
  }

  int responseLength() {
    return response.length;
  }
}
