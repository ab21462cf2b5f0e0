package io.disaggmoe.model.layer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.config.RopeScaling;
import java.util.Arrays;

/**
 * Rotary position embedding on interleaved pairs {@code (x[2i], x[2i+1])}, as DeepSeek's reference
 * code and HF checkpoints lay them out, with YaRN frequencies when the config extends the context.
 */
public final class RotaryEmbedding {
  private final float[] freqs;
  private final float magnitude;

  public RotaryEmbedding(ModelConfig config) {
    int dim = config.qkRopeHeadDim();
    freqs = new float[dim / 2];
    for (int i = 0; i < freqs.length; i++) {
      float exponent = (float) (2 * i) / dim;
      freqs[i] = (float) (1.0 / Math.pow(config.ropeTheta(), exponent));
    }
    float mag = 1f;
    if (config.yarnActive()) {
      RopeScaling s = config.ropeScaling();
      YarnScaling.apply(freqs, dim, config.ropeTheta(), s);
      // HF scales cos/sin by mscale/mscale_all_dim; DeepSeek-V3 sets them equal, making this 1.
      mag =
          (float)
              (RopeScaling.yarnMscale(s.factor(), s.mscale())
                  / RopeScaling.yarnMscale(s.factor(), s.mscaleAllDim()));
    }
    magnitude = mag;
  }

  /** The rotary frequency of each pair, after YaRN. */
  public float[] frequencies() {
    return freqs.clone();
  }

  /**
   * The cos/sin tables for rows at absolute {@code positions}, built once and applied to every
   * tensor of a step that shares those positions (queries and the shared key).
   */
  public Angles angles(int[] positions, NDManager manager) {
    Table t = table(positions);
    Shape table = new Shape(positions.length, freqs.length);
    return new Angles(manager.create(t.cos, table), manager.create(t.sin, table));
  }

  /** The same tables as float arrays, {@code [rows, ropeDim/2]}. */
  public Table table(int[] positions) {
    int half = freqs.length;
    int n = positions.length;
    float[] cos = new float[n * half];
    float[] sin = new float[n * half];
    for (int r = 0; r < n; r++) {
      for (int i = 0; i < half; i++) {
        float angle = positions[r] * freqs[i];
        cos[r * half + i] = (float) Math.cos(angle) * magnitude;
        sin[r * half + i] = (float) Math.sin(angle) * magnitude;
      }
    }
    return new Table(cos, sin, half);
  }

  /** Cos and sin of each row's rotation angles as float arrays. */
  public record Table(float[] cos, float[] sin, int half) {
    /**
     * Rotates the {@code 2 * half} values at {@code x[at..]} by row {@code row}'s angles, with the
     * same float operations, in the same order, as {@link Angles#apply}.
     */
    public void rotate(int row, float[] x, int at) {
      for (int i = 0; i < half; i++) {
        float a = x[at + 2 * i];
        float b = x[at + 2 * i + 1];
        float c = cos[row * half + i];
        float s = sin[row * half + i];
        x[at + 2 * i] = a * c - b * s;
        x[at + 2 * i + 1] = a * s + b * c;
      }
    }
  }

  /** Cos and sin of each row's rotation angles, {@code [rows, ropeDim/2]}. */
  public record Angles(NDArray cos, NDArray sin) {
    /** Rotates {@code x} of shape {@code [rows, ..., ropeDim]}, row {@code n} by angles row n. */
    public NDArray apply(NDArray x) {
      Shape shape = x.getShape();
      long rows = shape.get(0);
      long half = cos.getShape().get(1);
      long[] broadcast = new long[shape.dimension()];
      Arrays.fill(broadcast, 1);
      broadcast[0] = rows;
      broadcast[broadcast.length - 1] = half;
      NDArray c = cos.reshape(new Shape(broadcast));
      NDArray s = sin.reshape(new Shape(broadcast));
      NDArray pairs = x.reshape(shape.slice(0, shape.dimension() - 1).add(half, 2));
      NDArray a = pairs.get("..., 0");
      NDArray b = pairs.get("..., 1");
      NDArray ra = a.mul(c).sub(b.mul(s));
      NDArray rb = a.mul(s).add(b.mul(c));
      return ra.stack(rb, -1).reshape(shape);
    }
  }
}
