package io.disaggmoe.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** A chaos link in front of a real TCP echo server: it forwards, delays, freezes and cuts. */
class ChaosLinkTest {
  private ServerSocket echo;
  private ChaosLink link;

  @BeforeEach
  void start() throws IOException {
    echo = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
    Thread.startVirtualThread(
        () -> {
          while (!echo.isClosed()) {
            try {
              Socket s = echo.accept();
              Thread.startVirtualThread(() -> echoAll(s));
            } catch (IOException e) {
              return;
            }
          }
        });
    link = ChaosLink.reserve();
    link.connect("127.0.0.1:" + echo.getLocalPort());
  }

  private static void echoAll(Socket s) {
    try (s;
        InputStream in = s.getInputStream();
        OutputStream out = s.getOutputStream()) {
      in.transferTo(out);
    } catch (IOException e) {
      // the link closed it
    }
  }

  @AfterEach
  void stop() throws IOException {
    link.close();
    echo.close();
  }

  private Socket client() throws IOException {
    Socket s = new Socket(InetAddress.getLoopbackAddress(), link.port());
    s.setSoTimeout(2_000);
    return s;
  }

  /** Sends one byte and returns how long its echo took, in ms. */
  private static long roundTripMs(Socket s, int b) throws IOException {
    long t = System.nanoTime();
    s.getOutputStream().write(b);
    s.getOutputStream().flush();
    assertThat(s.getInputStream().read()).as("the byte echoed through the link").isEqualTo(b);
    return (System.nanoTime() - t) / 1_000_000;
  }

  @Test
  void aDelayedLinkHoldsEachWayBackAndThenForwardsAtOnceAgain() throws IOException {
    try (Socket s = client()) {
      roundTripMs(s, 1);
      link.delay(Duration.ofMillis(150), Duration.ZERO);
      assertThat(roundTripMs(s, 2)).as("round trip with 150 ms each way, ms").isGreaterThan(250);
      link.restore();
      assertThat(roundTripMs(s, 3)).as("round trip once restored, ms").isLessThan(250);
    }
  }

  @Test
  void aFrozenLinkKeepsTheConnectionButCarriesNothingUntilThawed() throws IOException {
    try (Socket s = client()) {
      roundTripMs(s, 1);
      link.freeze();
      s.getOutputStream().write(2);
      s.getOutputStream().flush();
      assertThatThrownBy(() -> s.getInputStream().read())
          .as("a read while frozen")
          .isInstanceOf(SocketTimeoutException.class);
      link.restore();
      assertThat(s.getInputStream().read()).as("the byte sent while frozen").isEqualTo(2);
    }
  }

  @Test
  void aCutLinkClosesItsConnectionsRefusesNewOnesAndAcceptsThemOnceRestored() throws IOException {
    try (Socket s = client()) {
      roundTripMs(s, 1);
      link.cut();
      assertThat(s.getInputStream().read()).as("the cut connection's end of stream").isEqualTo(-1);
    }
    assertThatThrownBy(this::client)
        .as("a new connection while cut")
        .isInstanceOf(IOException.class);
    link.restore();
    try (Socket s = client()) {
      assertThat(roundTripMs(s, 4)).isNotNegative();
    }
  }
}
