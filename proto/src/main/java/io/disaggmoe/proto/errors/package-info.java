/**
 * The kinds of failure a service's core reports, free of any transport: each service's exceptions
 * extend one of them, and one mapper turns them into gRPC statuses.
 */
package io.disaggmoe.proto.errors;
