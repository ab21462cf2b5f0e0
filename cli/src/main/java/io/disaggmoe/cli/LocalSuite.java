package io.disaggmoe.cli;

import io.disaggmoe.attention.AttentionServiceApplication;
import io.disaggmoe.expert.ExpertServiceApplication;
import io.disaggmoe.kvcache.KvCacheServiceApplication;
import io.disaggmoe.model.kernel.KernelThreads;
import io.disaggmoe.orchestration.ControlPlaneApplication;
import io.disaggmoe.proto.telemetry.StageMetrics;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine;

/**
 * The whole suite on this machine, each service on its own loopback port talking real gRPC:
 * kv-cache-service, expert pools, prefill and decode attention instances, and the gateway. By
 * default every service runs in this JVM (one Spring context each); with {@code processes} each is
 * a {@code disaggmoe serve ...} child process. Both start a service from the same {@code serve}
 * arguments, so the two ways cannot drift apart.
 */
final class LocalSuite implements AutoCloseable {
  private static final Pattern GRPC_PORT = Pattern.compile("gRPC port (\\d+)");

  private static final Pattern METRICS_PORT = Pattern.compile("metrics on port (\\d+)");

  /** One started service, as the state file lists it; {@code metrics} serves its /metrics. */
  record Service(String role, String address, long pid, String metrics) {}

  private final List<AutoCloseable> running = new ArrayList<>();
  private final List<Service> services = new ArrayList<>();
  private final List<ServiceProcess> processes = new ArrayList<>();
  private final boolean inProcess;
  private final int pools;
  private final LaunchSecurity security;
  private final List<String> gatewayUrls = new ArrayList<>();
  private String controlPlane;
  private String generateService;
  private ChaosLink decodeLink;
  private String decodeLinkTarget;

  private LocalSuite(boolean inProcess, int pools, LaunchSecurity security) {
    this.inProcess = inProcess;
    this.pools = pools;
    this.security = security;
    if (inProcess) {
      // The pools' passes and the attention's multiplications share this JVM's kernel threads.
      KernelThreads.restOnWaits(false);
    }
  }

  /**
   * Settings of a local suite. {@code mirroredPools}: more pools, each holding the same share as
   * pool {@code 0, 1, ...} (replicas of its experts), kept so (the plane then rebalances only when
   * asked); {@code decodeLink}: the first decode instance is reached through a {@link ChaosLink}
   * that the chaos suite can delay, freeze or cut.
   */
  record Options(
      Path model,
      int prefill,
      int decode,
      int expertPools,
      String gatewayHost,
      int gatewayPort,
      Path apiKeys,
      boolean processes,
      boolean tls,
      int gateways,
      int mirroredPools,
      boolean decodeLink,
      Duration warmup,
      List<String> gatewayArgs) {
    /**
     * {@code up}'s defaults, to change as needed: one prefill and one decode instance, two expert
     * pools, one gateway on a free loopback port, one JVM, no keys, no TLS.
     */
    static Builder of(Path model) {
      return new Builder(model);
    }
  }

  /** Builds {@link Options} from {@code up}'s defaults. */
  static final class Builder {
    private final Path model;
    private int prefill = 1;
    private int decode = 1;
    private int expertPools = 2;
    private String gatewayHost = "127.0.0.1";
    private int gatewayPort;
    private Path apiKeys;
    private boolean processes;
    private boolean tls;
    private int gateways = 1;
    private int mirroredPools;
    private boolean decodeLink;
    private Duration warmup = Duration.ZERO;
    private List<String> gatewayArgs = List.of();

    private Builder(Path model) {
      this.model = model;
    }

    Builder stages(int prefill, int decode, int expertPools) {
      this.prefill = prefill;
      this.decode = decode;
      this.expertPools = expertPools;
      return this;
    }

    /** {@code count} gateways, the first on {@code host:port} (0: a free port), the others free. */
    Builder gateways(String host, int port, int count) {
      this.gatewayHost = host;
      this.gatewayPort = port;
      this.gateways = count;
      return this;
    }

    /** The API keys file; null: an open gateway. */
    Builder apiKeys(Path keys) {
      this.apiKeys = keys;
      return this;
    }

    /** One process per service, or ({@code false}) one JVM for all. */
    Builder processes(boolean each) {
      this.processes = each;
      return this;
    }

    Builder tls(boolean mutual) {
      this.tls = mutual;
      return this;
    }

    Builder mirroredPools(int count) {
      this.mirroredPools = count;
      return this;
    }

    Builder decodeLink(boolean link) {
      this.decodeLink = link;
      return this;
    }

    /** How long each prefill and decode instance warms up before it serves ({@code --warmup}). */
    Builder warmup(Duration warmup) {
      this.warmup = warmup;
      return this;
    }

    /** Options every gateway is started with besides the addresses ({@code serve gateway}'s). */
    Builder gatewayArgs(List<String> args) {
      this.gatewayArgs = List.copyOf(args);
      return this;
    }

    Options build() {
      return new Options(
          model,
          prefill,
          decode,
          expertPools,
          gatewayHost,
          gatewayPort,
          apiKeys,
          processes,
          tls,
          gateways,
          mirroredPools,
          decodeLink,
          warmup,
          gatewayArgs);
    }
  }

  static LocalSuite start(Options o) throws IOException {
    LocalSuite s =
        new LocalSuite(
            !o.processes(), o.expertPools() + o.mirroredPools(), LaunchSecurity.of(o.tls()));
    try {
      String model = o.model().toAbsolutePath().toString();
      // The plane first: every other service registers with it as it starts.
      List<String> plane =
          new ArrayList<>(List.of("control-plane", "--port", "0", "--host", "127.0.0.1"));
      if (o.mirroredPools() > 0) {
        // A timed rebalance would trade the mirrors for EPLB's copies of hot experts only.
        plane.addAll(List.of("--rebalance-every", "0"));
      }
      s.controlPlane = s.start("control-plane", plane);
      Starting kvStarting =
          s.begin("kv-cache", List.of("kv-cache", "--port", "0", "--host", "127.0.0.1"));
      List<Starting> poolsStarting = new ArrayList<>();
      for (int p = 0; p < o.expertPools() + o.mirroredPools(); p++) {
        int i = p % o.expertPools();
        poolsStarting.add(
            s.begin(
                "expert",
                List.of(
                    "expert",
                    "--model",
                    model,
                    "--pool",
                    i + "/" + o.expertPools(),
                    "--port",
                    "0",
                    "--host",
                    "127.0.0.1",
                    "--compute-nice",
                    String.valueOf(ExpertPoolProcesses.COMPUTE_NICE))));
      }
      String kv = s.ready(kvStarting);
      List<String> pools = new ArrayList<>();
      for (Starting pool : poolsStarting) {
        pools.add(s.ready(pool));
      }
      List<String> prefill = new ArrayList<>();
      List<String> decode = new ArrayList<>();
      List<Starting> attention = new ArrayList<>();
      for (int i = 0; i < o.prefill() + o.decode(); i++) {
        String role = i < o.prefill() ? "prefill" : "decode";
        List<String> args =
            new ArrayList<>(
                List.of(
                    "attention",
                    "--role",
                    role,
                    "--model",
                    model,
                    "--kv-cache",
                    kv,
                    "--port",
                    "0",
                    "--host",
                    "127.0.0.1"));
        if (!pools.isEmpty()) {
          args.add("--experts");
          args.add(String.join(",", pools));
        }
        if (!o.warmup().isZero()) {
          args.addAll(List.of("--warmup", o.warmup().toString()));
        }
        if (role.equals("decode") && decode.isEmpty() && o.decodeLink()) {
          ChaosLink link = ChaosLink.reserve();
          s.running.add(link);
          args.addAll(List.of("--advertised-port", String.valueOf(link.port())));
          s.decodeLinkTarget = s.start(role, args);
          link.connect(s.decodeLinkTarget);
          s.decodeLink = link;
          decode.add("127.0.0.1:" + link.port());
          continue;
        }
        attention.add(s.begin(role, args));
      }
      for (Starting a : attention) {
        (a.role().equals("prefill") ? prefill : decode).add(s.ready(a));
      }
      List<Starting> gateways = new ArrayList<>();
      for (int g = 0; g < o.gateways(); g++) {
        // The first on the port asked for; any other on a free one.
        int port = g == 0 ? o.gatewayPort() : 0;
        List<String> gateway =
            new ArrayList<>(
                List.of(
                    "gateway",
                    "--model",
                    model,
                    "--kv-cache",
                    kv,
                    "--decode",
                    String.join(",", decode),
                    "--port",
                    String.valueOf(port),
                    "--host",
                    o.gatewayHost(),
                    "--grpc-port",
                    "0"));
        if (!prefill.isEmpty()) {
          gateway.add("--prefill");
          gateway.add(String.join(",", prefill));
        }
        if (o.apiKeys() != null) {
          gateway.add("--api-keys");
          gateway.add(o.apiKeys().toAbsolutePath().toString());
        }
        gateway.addAll(o.gatewayArgs());
        gateways.add(s.begin("gateway", gateway));
      }
      for (Starting g : gateways) {
        String address = s.ready(g);
        String host = o.gatewayHost().equals("0.0.0.0") ? "127.0.0.1" : o.gatewayHost();
        s.gatewayUrls.add("http://" + host + ":" + address.substring(address.lastIndexOf(':') + 1));
      }
      if (s.inProcess) {
        ServingHeap.afterLoading();
      }
      return s;
    } catch (IOException | RuntimeException e) {
      s.close();
      throw e;
    }
  }

  /** Starts {@code serve <args>} and returns its {@code 127.0.0.1:port} once it is ready. */
  private String start(String role, List<String> args) throws IOException {
    return ready(begin(role, args));
  }

  /** A service started and not yet known to be ready. */
  private record Starting(
      String role, List<String> serveArgs, ServiceProcess process, String readyPrefix) {}

  /**
   * Launches {@code serve <args>} as a process and leaves it starting beside others: each takes
   * seconds of CPU, much of it the JIT, so services that do not need each other start together. An
   * in-process service starts in {@link #ready}, one at a time.
   */
  private Starting begin(String role, List<String> args) throws IOException {
    List<String> serveArgs = new ArrayList<>(args);
    serveArgs.addAll(security.serveArgs());
    if (controlPlane != null) {
      serveArgs.addAll(List.of("--control-plane", controlPlane));
    }
    if (!role.equals("gateway")) {
      serveArgs.addAll(List.of("--metrics-port", "0"));
    }
    if (inProcess) {
      return new Starting(role, serveArgs, null, null);
    }
    String prefix =
        switch (serveArgs.getFirst()) {
          case "kv-cache" -> KvCacheServiceApplication.READY_PREFIX;
          case "expert" -> ExpertServiceApplication.READY_PREFIX;
          case "attention" -> AttentionServiceApplication.READY_PREFIX;
          case "control-plane" -> ControlPlaneApplication.READY_PREFIX;
          default -> io.disaggmoe.gateway.config.ReadyAnnouncer.PREFIX;
        };
    ServiceProcess p = launch(role, prefix, serveArgs);
    processes.add(p);
    return new Starting(role, serveArgs, p, prefix);
  }

  /** Waits until the service listens, records it, and returns its {@code 127.0.0.1:port}. */
  private String ready(Starting started) throws IOException {
    String role = started.role();
    List<String> serveArgs = started.serveArgs();
    boolean grpcStage = !role.equals("gateway");
    String address;
    String metrics;
    long pid;
    if (inProcess) {
      ServeSubcommand command =
          switch (serveArgs.getFirst()) {
            case "kv-cache" -> new ServeKvCacheCommand();
            case "expert" -> new ServeExpertCommand();
            case "attention" -> new ServeAttentionCommand();
            case "gateway" -> new ServeGatewayCommand();
            case "control-plane" -> new ServeControlPlaneCommand();
            default -> throw new IllegalArgumentException("no service " + serveArgs.getFirst());
          };
      new CommandLine(command)
          .parseArgs(serveArgs.subList(1, serveArgs.size()).toArray(String[]::new));
      SpringServices.Running r = SpringServices.start(command.spec());
      running.add(r);
      if (role.equals("gateway") && generateService == null) {
        generateService = "127.0.0.1:" + r.grpcPort();
      }
      address = "127.0.0.1:" + r.port();
      metrics = grpcStage ? "127.0.0.1:" + r.context().getBean(StageMetrics.class).port() : address;
      pid = ProcessHandle.current().pid();
    } else {
      ServiceProcess p = started.process();
      address = p.target();
      launches.put(address, new Launch(role, started.readyPrefix(), serveArgs));
      if (role.equals("gateway") && generateService == null) {
        Matcher m = GRPC_PORT.matcher(p.readyLine());
        generateService = m.find() ? "127.0.0.1:" + m.group(1) : "unknown";
      }
      Matcher m = METRICS_PORT.matcher(p.readyLine());
      metrics = !grpcStage ? address : m.find() ? "127.0.0.1:" + m.group(1) : null;
      pid = p.pid();
    }
    services.add(new Service(role, address, pid, metrics));
    return address;
  }

  private ServiceProcess launch(String role, String prefix, List<String> serveArgs)
      throws IOException {
    return role.equals("expert")
        ? ServiceProcess.startExpertPool(
            role, prefix, serveArgs, ExpertPoolProcesses.threadsPerPool(pools))
        : ServiceProcess.start(role, prefix, serveArgs);
  }

  /** How a service process was started: to start it again. */
  private record Launch(String role, String readyPrefix, List<String> serveArgs) {}

  private final Map<String, Launch> launches = new HashMap<>();

  /** SIGKILL of the process serving {@code address}, as a crash would (processes only). */
  void kill(String address) throws InterruptedException {
    process(address).kill();
  }

  /** SIGTERM to the process serving {@code address}, waiting for it to end (processes only). */
  void stop(String address) throws InterruptedException {
    process(address).close();
  }

  /**
   * Starts the service at {@code address} again with its arguments on its port, as Kubernetes
   * restarts a pod, and returns once it listens (processes only).
   */
  void restart(String address) throws IOException {
    Launch l = launches.get(address);
    if (l == null) {
      throw new IllegalArgumentException("no service process at " + address);
    }
    List<String> args = new ArrayList<>(l.serveArgs());
    args.set(args.indexOf("--port") + 1, address.substring(address.lastIndexOf(':') + 1));
    ServiceProcess p = launch(l.role(), l.readyPrefix(), args);
    processes.removeIf(old -> !old.isAlive());
    processes.add(p);
    Matcher m = METRICS_PORT.matcher(p.readyLine());
    String metrics = m.find() ? "127.0.0.1:" + m.group(1) : null;
    services.replaceAll(
        s ->
            s.address().equals(address)
                ? new Service(s.role(), address, p.pid(), metrics == null ? s.metrics() : metrics)
                : s);
  }

  private ServiceProcess process(String address) {
    long pid =
        services.stream()
            .filter(s -> s.address().equals(address))
            .findFirst()
            .orElseThrow(() -> new IllegalArgumentException("no service at " + address))
            .pid();
    return processes.stream()
        .filter(p -> p.pid() == pid)
        .findFirst()
        .orElseThrow(() -> new IllegalArgumentException("no process serves " + address));
  }

  /** {@code host:port} of the control plane every service registered with. */
  String controlPlane() {
    return controlPlane;
  }

  /** The first gateway's URL. */
  String gatewayUrl() {
    return gatewayUrls.getFirst();
  }

  /** Every gateway's URL, the first one first. */
  List<String> gatewayUrls() {
    return gatewayUrls;
  }

  /** {@code host:port} of the gateway's gRPC GenerateService. */
  String generateService() {
    return generateService;
  }

  /** The link in front of the first decode instance, when the options asked for one. */
  ChaosLink decodeLink() {
    if (decodeLink == null) {
      throw new IllegalStateException("this suite has no link in front of a decode instance");
    }
    return decodeLink;
  }

  /**
   * The address by which the gateways call the service at {@code address}: the link's, for the
   * decode instance behind it.
   */
  String calledAs(String address) {
    return address.equals(decodeLinkTarget) ? "127.0.0.1:" + decodeLink.port() : address;
  }

  List<Service> services() {
    return services;
  }

  /** Stops the gateway first and the kv-cache-service last, the reverse of starting. */
  @Override
  public void close() {
    for (int i = running.size() - 1; i >= 0; i--) {
      try {
        running.get(i).close();
      } catch (Exception e) {
        System.err.println("stopping a service failed: " + e.getMessage());
      }
    }
    try {
      ServiceProcess.closeAll(processes.reversed());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    try {
      security.close();
    } catch (IOException e) {
      System.err.println("removing the run's TLS files failed: " + e.getMessage());
    }
  }
}
