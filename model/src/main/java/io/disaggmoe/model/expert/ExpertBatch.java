package io.disaggmoe.model.expert;

import io.disaggmoe.model.layer.RoutingDecision;
import java.util.ArrayList;
import java.util.List;

/**
 * The tokens routed to one expert in one layer call: which rows of the batch, with which weight.
 * Both the local executor and expert pools work expert by expert through this.
 */
public record ExpertBatch(int expert, int[] tokens, float[] weights) {

  public int size() {
    return tokens.length;
  }

  /**
   * Splits a routing decision into per-expert batches, in ascending expert order; slots holding -1
   * (experts another pool runs) are left out.
   */
  public static List<ExpertBatch> group(RoutingDecision routing) {
    int maxExpert = -1;
    for (int[] ids : routing.expertIds()) {
      for (int id : ids) {
        maxExpert = Math.max(maxExpert, id);
      }
    }
    int[] counts = new int[maxExpert + 1];
    for (int[] ids : routing.expertIds()) {
      for (int id : ids) {
        if (id >= 0) {
          counts[id]++;
        }
      }
    }
    List<ExpertBatch> batches = new ArrayList<>();
    for (int e = 0; e <= maxExpert; e++) {
      if (counts[e] == 0) {
        continue;
      }
      int[] tokens = new int[counts[e]];
      float[] weights = new float[counts[e]];
      int n = 0;
      for (int t = 0; t < routing.tokens(); t++) {
        int[] ids = routing.expertIds()[t];
        for (int j = 0; j < ids.length; j++) {
          if (ids[j] == e) {
            tokens[n] = t;
            weights[n++] = routing.weights()[t][j];
          }
        }
      }
      batches.add(new ExpertBatch(e, tokens, weights));
    }
    return batches;
  }

  /** Copies this batch's token rows out of {@code x} ({@code [tokens, dim]} row-major). */
  public float[] gatherRows(float[] x, int dim) {
    float[] rows = new float[tokens.length * dim];
    for (int i = 0; i < tokens.length; i++) {
      System.arraycopy(x, tokens[i] * dim, rows, i * dim, dim);
    }
    return rows;
  }

  /** Adds {@code weight * y[i]} into row {@code tokens[i]} of {@code out}. */
  public void scatterWeighted(float[] y, float[] out, int dim) {
    for (int i = 0; i < tokens.length; i++) {
      int dst = tokens[i] * dim;
      float w = weights[i];
      for (int c = 0; c < dim; c++) {
        out[dst + c] += y[i * dim + c] * w;
      }
    }
  }
}
