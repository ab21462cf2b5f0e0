package io.disaggmoe.kvcache;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/** The kv-cache-service process: {@code disaggmoe.kv-cache.capacity}, {@code .disk}, etc. */
@SpringBootApplication
public class KvCacheServiceApplication {
  public static void main(String[] args) {
    SpringApplication.run(KvCacheServiceApplication.class, args);
  }
}
