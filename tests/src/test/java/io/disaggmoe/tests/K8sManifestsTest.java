package io.disaggmoe.tests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.LabelSelectorRequirement;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyIngressRule;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeer;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every overlay of {@code k8s/} as {@code kubectl kustomize} renders it, read strictly as the
 * Kubernetes API types (a field the type does not have fails), and checked for what a cluster would
 * only find at run time: probes on declared ports, selectors that match, images the build makes,
 * and NetworkPolicies that let exactly the stages of DESIGN.md talk.
 */
class K8sManifestsTest {
  private static final Path K8S = Path.of("..", "k8s").toAbsolutePath().normalize();
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  /** Who may call whom, as DESIGN.md draws it (and the plane moving pools' experts). */
  private static final Set<String> ARROWS =
      Set.of(
          "external -> gateway",
          "gateway -> prefill",
          "gateway -> decode",
          "gateway -> kv-cache",
          "gateway -> control-plane",
          "prefill -> kv-cache",
          "prefill -> expert-pool",
          "prefill -> control-plane",
          "decode -> kv-cache",
          "decode -> expert-pool",
          "decode -> control-plane",
          "expert-pool -> control-plane",
          "kv-cache -> control-plane",
          "control-plane -> expert-pool",
          "namespace monitoring -> control-plane",
          "namespace monitoring -> kv-cache",
          "namespace monitoring -> expert-pool",
          "namespace monitoring -> prefill",
          "namespace monitoring -> decode");

  private static final Map<String, Class<? extends HasMetadata>> TYPES =
      Map.of(
          "ConfigMap", ConfigMap.class,
          "Secret", Secret.class,
          "PersistentVolumeClaim", PersistentVolumeClaim.class,
          "Service", Service.class,
          "Deployment", Deployment.class,
          "StatefulSet", StatefulSet.class,
          "PodDisruptionBudget", PodDisruptionBudget.class,
          "NetworkPolicy", NetworkPolicy.class,
          "HorizontalPodAutoscaler", HorizontalPodAutoscaler.class);

  static Stream<String> overlays() {
    return Stream.of("base", "overlays/local", "overlays/cpu", "overlays/gpu");
  }

  /** One rendered tree: its objects by kind and name. */
  private record Rendered(String overlay, List<HasMetadata> objects) {
    <T extends HasMetadata> List<T> all(Class<T> type) {
      return objects.stream().filter(type::isInstance).map(type::cast).toList();
    }

    /** Each Deployment's and StatefulSet's name, with its pod template. */
    Map<String, PodTemplateSpec> workloads() {
      Map<String, PodTemplateSpec> w = new LinkedHashMap<>();
      all(Deployment.class)
          .forEach(d -> w.put(d.getMetadata().getName(), d.getSpec().getTemplate()));
      all(StatefulSet.class)
          .forEach(s -> w.put(s.getMetadata().getName(), s.getSpec().getTemplate()));
      return w;
    }
  }

  /** {@code kubectl kustomize} of {@code dir} (under k8s/), one JSON tree per object. */
  private static List<JsonNode> kustomize(String dir) throws Exception {
    Process p;
    try {
      p =
          new ProcessBuilder("kubectl", "kustomize", K8S.resolve(dir).toString())
              .redirectErrorStream(true)
              .start();
    } catch (IOException e) {
      Assumptions.abort("kubectl is not installed: " + e.getMessage());
      throw e;
    }
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as("kubectl kustomize %s printed:%n%s", dir, out).isZero();
    return YAML.readerFor(JsonNode.class).<JsonNode>readValues(out).readAll();
  }

  private static Rendered render(String overlay) throws Exception {
    List<HasMetadata> objects = new ArrayList<>();
    for (JsonNode doc : kustomize(overlay)) {
      String kind = doc.path("kind").asText();
      Class<? extends HasMetadata> type = TYPES.get(kind);
      if (type == null) {
        fail("%s renders a %s, which this test does not know", overlay, kind);
      }
      objects.add(strictly(doc, type, overlay));
    }
    return new Rendered(overlay, objects);
  }

  private static <T extends HasMetadata> T strictly(JsonNode doc, Class<T> type, String where)
      throws Exception {
    T o = YAML.treeToValue(doc, type);
    assertNoUnknownFields(
        o,
        where + ": " + doc.path("kind").asText() + " " + o.getMetadata().getName(),
        new IdentityHashMap<>());
    return o;
  }

  /**
   * The Chaos Mesh objects of k8s/chaos select pods of the stages the base deploys (the faults of
   * workflows too), and the load Job and every workflow task (read strictly) run a command line the
   * CLI accepts, on the image the build makes; a workflow's templates name only templates it has.
   */
  @org.junit.jupiter.api.Test
  void theChaosObjectsSelectStagesThatExistAndTheLoadJobRunsTheCli() throws Exception {
    Set<String> stages = new TreeSet<>(render("base").workloads().keySet());
    Set<String> kinds = new TreeSet<>();
    for (JsonNode doc : kustomize("chaos")) {
      String kind = doc.path("kind").asText();
      kinds.add(kind);
      if (kind.equals("Job")) {
        Job job = strictly(doc, Job.class, "chaos");
        Container c = job.getSpec().getTemplate().getSpec().getContainers().getFirst();
        assertThat(c.getImage()).isEqualTo(builtImage());
        io.disaggmoe.cli.Main.commandLine().parseArgs(c.getArgs().toArray(String[]::new));
        continue;
      }
      assertThat(doc.path("apiVersion").asText()).isEqualTo("chaos-mesh.org/v1alpha1");
      String name = kind + " " + doc.path("metadata").path("name").asText();
      if (!kind.equals("Workflow")) {
        assertSelectsStages(stages, name, doc.path("spec"));
        continue;
      }
      Set<String> templates = new TreeSet<>();
      for (JsonNode t : doc.path("spec").path("templates")) {
        templates.add(t.path("name").asText());
        switch (t.path("templateType").asText()) {
          case "Task" -> {
            Container c = YAML.treeToValue(t.path("task").path("container"), Container.class);
            assertThat(c.getImage()).as("%s task image", name).isEqualTo(builtImage());
            io.disaggmoe.cli.Main.commandLine().parseArgs(c.getArgs().toArray(String[]::new));
          }
          case "PodChaos" -> assertSelectsStages(stages, name, t.path("podChaos"));
          case "NetworkChaos" -> assertSelectsStages(stages, name, t.path("networkChaos"));
          case "Serial", "Parallel", "Suspend" -> {}
          default -> throw new AssertionError(name + " has a template of unknown type: " + t);
        }
      }
      assertThat(templates)
          .as("%s templates", name)
          .contains(doc.path("spec").path("entry").asText());
      for (JsonNode t : doc.path("spec").path("templates")) {
        for (JsonNode child : t.path("children")) {
          assertThat(templates)
              .as("%s: a child of %s", name, t.path("name"))
              .contains(child.asText());
        }
      }
    }
    assertThat(kinds).containsExactlyInAnyOrder("Job", "PodChaos", "NetworkChaos", "Workflow");
  }

  /** The chaos spec's selector and target (if any) select pods of stages the base deploys. */
  private static void assertSelectsStages(Set<String> stages, String name, JsonNode spec) {
    List<JsonNode> selectors = new ArrayList<>(List.of(spec.path("selector")));
    if (spec.has("target")) {
      selectors.add(spec.path("target").path("selector"));
    }
    for (JsonNode sel : selectors) {
      assertThat(stages)
          .as("%s selects a stage", name)
          .contains(sel.path("labelSelectors").path("app.kubernetes.io/component").asText());
    }
  }

  /**
   * fabric8's types keep fields they do not know in {@code additionalProperties} instead of
   * failing: every such map in the tree must be empty.
   */
  private static void assertNoUnknownFields(Object o, String where, Map<Object, Boolean> seen)
      throws ReflectiveOperationException {
    if (o == null || seen.put(o, true) != null) {
      return;
    }
    if (o instanceof List<?> list) {
      for (int i = 0; i < list.size(); i++) {
        assertNoUnknownFields(list.get(i), where + "[" + i + "]", seen);
      }
      return;
    }
    if (o instanceof Map<?, ?> map) {
      for (var e : map.entrySet()) {
        assertNoUnknownFields(e.getValue(), where + "." + e.getKey(), seen);
      }
      return;
    }
    if (!o.getClass().getPackageName().startsWith("io.fabric8.kubernetes.api.model")
        || o instanceof Quantity
        || o instanceof IntOrString) {
      return;
    }
    for (Method m : o.getClass().getMethods()) {
      if (m.getParameterCount() != 0
          || Modifier.isStatic(m.getModifiers())
          || !m.getName().startsWith("get")
          || m.getDeclaringClass() == Object.class) {
        continue;
      }
      Object value = m.invoke(o);
      if (m.getName().equals("getAdditionalProperties")) {
        assertThat((Map<?, ?>) value)
            .as("%s has fields its API type does not", where)
            .isNullOrEmpty();
        continue;
      }
      assertNoUnknownFields(value, where + "." + m.getName().substring(3), seen);
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("overlays")
  void rendersStrictlyAsKubernetesTypes(String overlay) throws Exception {
    Rendered r = render(overlay);
    assertThat(r.workloads().keySet())
        .containsExactlyInAnyOrder(
            "control-plane", "kv-cache", "expert-pool", "prefill", "decode", "gateway");
    assertThat(r.all(StatefulSet.class).stream().map(s -> s.getMetadata().getName()))
        .as("kv-cache (its disk tier on a volume of its own) and the pools are StatefulSets")
        .containsExactlyInAnyOrder("kv-cache", "expert-pool");
    StatefulSet kv = named(r.all(StatefulSet.class), "kv-cache");
    assertThat(kv.getSpec().getVolumeClaimTemplates()).hasSize(1);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("overlays")
  void everyContainerHasProbesOnItsDeclaredPortsAndResourceRequests(String overlay)
      throws Exception {
    for (var w : render(overlay).workloads().entrySet()) {
      for (Container c : w.getValue().getSpec().getContainers()) {
        String where = overlay + ": " + w.getKey() + "/" + c.getName();
        List<ContainerPort> ports = c.getPorts();
        for (Probe probe :
            new Probe[] {c.getStartupProbe(), c.getReadinessProbe(), c.getLivenessProbe()}) {
          assertThat(probe).as("%s has startup, readiness and liveness probes", where).isNotNull();
          assertProbePortDeclared(probe, ports, where);
        }
        assertThat(c.getResources().getRequests())
            .as("%s requests", where)
            .containsKeys("cpu", "memory");
      }
    }
  }

  private static void assertProbePortDeclared(Probe p, List<ContainerPort> ports, String where) {
    if (p.getGrpc() != null) {
      assertThat(ports.stream().map(ContainerPort::getContainerPort))
          .as("%s: a gRPC probe's port", where)
          .contains(p.getGrpc().getPort());
    } else if (p.getHttpGet() != null) {
      assertPortNamed(p.getHttpGet().getPort(), ports, where + ": an HTTP probe's port");
    } else if (p.getTcpSocket() != null) {
      assertPortNamed(p.getTcpSocket().getPort(), ports, where + ": a TCP probe's port");
    } else {
      fail("%s: a probe that checks nothing over the network", where);
    }
  }

  private static void assertPortNamed(IntOrString port, List<ContainerPort> ports, String what) {
    if (port.getStrVal() != null) {
      assertThat(ports.stream().map(ContainerPort::getName)).as(what).contains(port.getStrVal());
    } else {
      assertThat(ports.stream().map(ContainerPort::getContainerPort))
          .as(what)
          .contains(port.getIntVal());
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("overlays")
  void selectorsMatchTheLabelsTheyAreMeantFor(String overlay) throws Exception {
    Rendered r = render(overlay);
    Map<String, PodTemplateSpec> workloads = r.workloads();
    for (Deployment d : r.all(Deployment.class)) {
      assertSelects(d.getSpec().getSelector(), d.getSpec().getTemplate(), "Deployment " + name(d));
    }
    for (StatefulSet s : r.all(StatefulSet.class)) {
      assertSelects(s.getSpec().getSelector(), s.getSpec().getTemplate(), "StatefulSet " + name(s));
      Service headless = named(r.all(Service.class), s.getSpec().getServiceName());
      assertThat(headless.getSpec().getClusterIP())
          .as("StatefulSet %s's Service is headless", name(s))
          .isEqualTo("None");
    }
    for (var w : workloads.entrySet()) {
      for (var spread : w.getValue().getSpec().getTopologySpreadConstraints()) {
        assertSelects(spread.getLabelSelector(), w.getValue(), "topology spread of " + w.getKey());
      }
    }
    for (Service svc : r.all(Service.class)) {
      List<String> selected = selectedBy(svc.getSpec().getSelector(), workloads);
      assertThat(selected).as("Service %s selects one workload", name(svc)).hasSize(1);
      List<ContainerPort> ports =
          workloads.get(selected.get(0)).getSpec().getContainers().get(0).getPorts();
      for (ServicePort p : svc.getSpec().getPorts()) {
        assertPortNamed(p.getTargetPort(), ports, "Service " + name(svc) + " port " + p.getName());
      }
    }
    for (PodDisruptionBudget pdb : r.all(PodDisruptionBudget.class)) {
      assertThat(selectedBy(pdb.getSpec().getSelector(), workloads))
          .as("PodDisruptionBudget %s", name(pdb))
          .containsExactly(name(pdb));
    }
    assertThat(r.all(PodDisruptionBudget.class)).hasSize(workloads.size());
    for (HorizontalPodAutoscaler hpa : r.all(HorizontalPodAutoscaler.class)) {
      assertThat(workloads).containsKey(hpa.getSpec().getScaleTargetRef().getName());
      assertThat(hpa.getSpec().getMetrics().get(0).getExternal().getMetric().getName())
          .isEqualTo("disaggmoe_desired_replicas");
    }
    for (NetworkPolicy np : r.all(NetworkPolicy.class)) {
      assertThat(selectedBy(np.getSpec().getPodSelector(), workloads))
          .as("NetworkPolicy %s selects pods", name(np))
          .isNotEmpty();
    }
  }

  /**
   * Each container's arguments, with {@code $(VAR)} replaced as the kubelet does (from the
   * ConfigMap, or a sample value for what the downward API gives), are a command line {@code
   * disaggmoe} accepts.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("overlays")
  void everyContainerRunsACommandLineTheCliAccepts(String overlay) throws Exception {
    Rendered r = render(overlay);
    Map<String, String> config = r.all(ConfigMap.class).getFirst().getData();
    Pattern var = Pattern.compile("\\$\\(([A-Z_]+)\\)");
    for (var w : r.workloads().entrySet()) {
      Container c = w.getValue().getSpec().getContainers().get(0);
      // Only what the container's env defines is expanded; anything else stays as written.
      Map<String, String> env = new LinkedHashMap<>();
      for (var e : c.getEnv()) {
        if (e.getValue() != null) {
          env.put(e.getName(), e.getValue());
        } else if (e.getValueFrom().getConfigMapKeyRef() != null) {
          String key = e.getValueFrom().getConfigMapKeyRef().getKey();
          assertThat(config).as("%s: %s reads %s", overlay, w.getKey(), key).containsKey(key);
          env.put(e.getName(), config.get(key));
        } else {
          env.put(e.getName(), e.getName().equals("POD_INDEX") ? "0" : "pod-0");
        }
      }
      List<String> args = new ArrayList<>();
      for (String a : c.getArgs()) {
        Matcher m = var.matcher(a);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
          assertThat(env)
              .as("%s: %s's env defines $(%s)", overlay, w.getKey(), m.group(1))
              .containsKey(m.group(1));
          m.appendReplacement(out, Matcher.quoteReplacement(env.get(m.group(1))));
        }
        args.add(m.appendTail(out).toString());
      }
      try {
        io.disaggmoe.cli.Main.commandLine().parseArgs(args.toArray(String[]::new));
      } catch (picocli.CommandLine.ParameterException e) {
        fail(
            "%s: %s runs disaggmoe %s, which the CLI refuses: %s",
            overlay, w.getKey(), args, e.getMessage());
      }
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("overlays")
  void everyImageIsTheOneTheBuildMakes(String overlay) throws Exception {
    String image = builtImage();
    for (var w : render(overlay).workloads().entrySet()) {
      for (Container c : w.getValue().getSpec().getContainers()) {
        assertThat(c.getImage()).as("%s: %s", overlay, w.getKey()).isEqualTo(image);
      }
    }
  }

  /** cli/pom.xml's Jib image name, with the project's version. */
  private static String builtImage() throws IOException {
    String cli = Files.readString(K8S.resolveSibling("cli").resolve("pom.xml"));
    String root = Files.readString(K8S.resolveSibling("pom.xml"));
    Matcher name = Pattern.compile("<image\\.name>([^<]+)</image\\.name>").matcher(cli);
    Matcher version =
        Pattern.compile("<artifactId>disaggmoe-parent</artifactId>\\s*<version>([^<]+)</version>")
            .matcher(root);
    assertThat(name.find()).as("cli/pom.xml names the image").isTrue();
    assertThat(version.find()).as("the project's version").isTrue();
    return name.group(1).replace("${project.version}", version.group(1));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("overlays")
  void networkPoliciesAllowExactlyTheArrowsOfTheDesign(String overlay) throws Exception {
    Rendered r = render(overlay);
    Map<String, PodTemplateSpec> workloads = r.workloads();
    assertThat(r.all(NetworkPolicy.class))
        .as("a policy that denies all ingress not allowed below")
        .anyMatch(
            np ->
                np.getSpec().getIngress().isEmpty()
                    && np.getSpec().getPolicyTypes().contains("Ingress")
                    && selectedBy(np.getSpec().getPodSelector(), workloads).size()
                        == workloads.size());
    Set<String> allowed = new TreeSet<>();
    for (NetworkPolicy np : r.all(NetworkPolicy.class)) {
      List<String> targets = selectedBy(np.getSpec().getPodSelector(), workloads);
      for (NetworkPolicyIngressRule rule : np.getSpec().getIngress()) {
        List<String> sources = new ArrayList<>();
        if (rule.getFrom().isEmpty()) {
          sources.add("external");
        }
        for (NetworkPolicyPeer peer : rule.getFrom()) {
          if (peer.getNamespaceSelector() != null) {
            sources.add(
                "namespace "
                    + peer.getNamespaceSelector()
                        .getMatchLabels()
                        .get("kubernetes.io/metadata.name"));
          } else {
            sources.addAll(selectedBy(peer.getPodSelector(), workloads));
          }
        }
        for (String source : sources) {
          for (String target : targets) {
            allowed.add(source + " -> " + target);
          }
        }
      }
    }
    assertThat(allowed).containsExactlyInAnyOrderElementsOf(ARROWS);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("overlays")
  void theModelComesFromAVolumeAndGpuPoolsAskForAGpu(String overlay) throws Exception {
    Rendered r = render(overlay);
    for (var w : r.workloads().entrySet()) {
      boolean loadsModel =
          w.getValue().getSpec().getContainers().get(0).getArgs().stream()
              .anyMatch(a -> a.startsWith("--model="));
      if (loadsModel) {
        assertThat(w.getValue().getSpec().getVolumes())
            .as("%s: %s reads the model from a volume", overlay, w.getKey())
            .anyMatch(
                v ->
                    v.getName().equals("models")
                        && (v.getPersistentVolumeClaim() != null || v.getHostPath() != null));
      }
    }
    Quantity gpus =
        named(r.all(StatefulSet.class), "expert-pool")
            .getSpec()
            .getTemplate()
            .getSpec()
            .getContainers()
            .get(0)
            .getResources()
            .getLimits()
            .get("nvidia.com/gpu");
    if (overlay.endsWith("gpu")) {
      assertThat(gpus).isEqualTo(new Quantity("1"));
    } else {
      assertThat(gpus).isNull();
    }
  }

  private static void assertSelects(LabelSelector s, PodTemplateSpec t, String what) {
    assertThat(matches(s, t.getMetadata().getLabels()))
        .as("%s's selector %s matches its pods' labels %s", what, s, t.getMetadata().getLabels())
        .isTrue();
  }

  private static List<String> selectedBy(LabelSelector s, Map<String, PodTemplateSpec> workloads) {
    return workloads.entrySet().stream()
        .filter(w -> matches(s, w.getValue().getMetadata().getLabels()))
        .map(Map.Entry::getKey)
        .toList();
  }

  private static List<String> selectedBy(
      Map<String, String> selector, Map<String, PodTemplateSpec> workloads) {
    LabelSelector s = new LabelSelector();
    s.setMatchLabels(selector);
    return selectedBy(s, workloads);
  }

  /** Label selector semantics for matchLabels and matchExpressions (In, NotIn, Exists). */
  private static boolean matches(LabelSelector s, Map<String, String> labels) {
    if (s == null) {
      return false;
    }
    if (s.getMatchLabels() != null) {
      for (var e : s.getMatchLabels().entrySet()) {
        if (!e.getValue().equals(labels.get(e.getKey()))) {
          return false;
        }
      }
    }
    for (LabelSelectorRequirement req : s.getMatchExpressions()) {
      String value = labels.get(req.getKey());
      boolean ok =
          switch (req.getOperator()) {
            case "In" -> value != null && req.getValues().contains(value);
            case "NotIn" -> value == null || !req.getValues().contains(value);
            case "Exists" -> value != null;
            case "DoesNotExist" -> value == null;
            default -> throw new AssertionError("operator " + req.getOperator());
          };
      if (!ok) {
        return false;
      }
    }
    return true;
  }

  private static <T extends HasMetadata> T named(List<T> objects, String name) {
    return objects.stream()
        .filter(o -> o.getMetadata().getName().equals(name))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no object named " + name));
  }

  private static String name(HasMetadata o) {
    return o.getMetadata().getName();
  }
}
