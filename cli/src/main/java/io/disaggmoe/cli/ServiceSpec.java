package io.disaggmoe.cli;

import java.util.Map;

/** A service to run: its Spring Boot application, its settings file's name, and its settings. */
record ServiceSpec(Class<?> application, String configName, Map<String, String> properties) {}
