package io.disaggmoe.kvcache;

import io.disaggmoe.proto.spring.ReadyAnnouncer;
import java.util.Map;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/** The kv-cache-service process: {@code disaggmoe.kv-cache.capacity}, {@code .disk}, etc. */
@SpringBootApplication
public class KvCacheServiceApplication {
  /** The name in its ready line ({@link ReadyAnnouncer}). */
  public static final String SERVICE = "kv-cache-service";

  /** What launchers wait for on its standard output. */
  public static final String READY_PREFIX = ReadyAnnouncer.prefix(SERVICE);

  /**
   * Its settings file, {@code kv-cache-service.properties}: services share a class path (the
   * command line, a JVM running several), where one {@code application.properties} would hide the
   * others.
   */
  public static final String CONFIG_NAME = "kv-cache-service";

  public static void main(String[] args) {
    SpringApplication app = new SpringApplication(KvCacheServiceApplication.class);
    app.setDefaultProperties(Map.of("spring.config.name", CONFIG_NAME));
    app.run(args);
  }
}
