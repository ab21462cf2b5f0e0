/**
 * Expert placement: which logical experts each pool's physical slots hold, with redundant copies of
 * hot experts, computed from the tokens each expert served. Plain Java, no transport.
 */
package io.disaggmoe.orchestration.placement;
