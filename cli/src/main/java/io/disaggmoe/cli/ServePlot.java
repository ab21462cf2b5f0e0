package io.disaggmoe.cli;

import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import javax.imageio.ImageIO;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The picture of a load run: the distribution (CDF) of TTFT, TPOT, ITL and end-to-end latency, and
 * output tokens per second over time, side by side in one PNG.
 */
final class ServePlot {
  private ServePlot() {}

  static void write(ServeLoad.Result r, String title, Path file) throws IOException {
    List<RequestTiming> ok = r.timings().stream().filter(RequestTiming::ok).toList();
    XYChart latency =
        new XYChartBuilder()
            .width(640)
            .height(420)
            .title(title + ": latency distributions")
            .xAxisTitle("ms (log)")
            .yAxisTitle("fraction of samples at or below")
            .build();
    latency.getStyler().setXAxisLogarithmic(true);
    cdf(latency, "TTFT", ok.stream().mapToDouble(RequestTiming::ttftMs).toArray());
    cdf(
        latency,
        "TPOT",
        ok.stream().filter(t -> t.outputTokens() > 1).mapToDouble(RequestTiming::tpotMs).toArray());
    cdf(latency, "ITL", ServeStats.itls(ok));
    cdf(latency, "E2EL", ok.stream().mapToDouble(RequestTiming::e2elMs).toArray());

    XYChart throughput =
        new XYChartBuilder()
            .width(640)
            .height(420)
            .title(title + ": output tokens/s over time")
            .xAxisTitle("s since the first request")
            .yAxisTitle("tokens/s (1 s bins)")
            .build();
    int bins = (int) Math.ceil(r.seconds()) + 1;
    double[] perSecond = new double[bins];
    for (RequestTiming t : ok) {
      for (long c : t.chunkNanos()) {
        int bin = (int) ((c - r.startNanos()) / 1_000_000_000L);
        if (bin >= 0 && bin < bins) {
          perSecond[bin] += (double) t.outputTokens() / t.chunkNanos().length;
        }
      }
    }
    double[] x = new double[bins];
    Arrays.setAll(x, i -> i);
    throughput.addSeries("output tokens/s", x, perSecond).setMarker(SeriesMarkers.NONE);

    BufferedImage left = BitmapEncoder.getBufferedImage(latency);
    BufferedImage right = BitmapEncoder.getBufferedImage(throughput);
    BufferedImage both =
        new BufferedImage(
            left.getWidth() + right.getWidth(),
            Math.max(left.getHeight(), right.getHeight()),
            BufferedImage.TYPE_INT_RGB);
    Graphics2D g = both.createGraphics();
    g.drawImage(left, 0, 0, null);
    g.drawImage(right, left.getWidth(), 0, null);
    g.dispose();
    ImageIO.write(both, "png", file.toFile());
  }

  private static void cdf(XYChart chart, String name, double[] values) {
    if (values.length == 0) {
      return;
    }
    double[] v = values.clone();
    Arrays.sort(v);
    List<Double> xs = new ArrayList<>();
    List<Double> ys = new ArrayList<>();
    for (int i = 0; i < v.length; i++) {
      xs.add(Math.max(v[i], 1e-3));
      ys.add((i + 1) / (double) v.length);
    }
    chart.addSeries(name, xs, ys).setMarker(SeriesMarkers.NONE);
  }
}
