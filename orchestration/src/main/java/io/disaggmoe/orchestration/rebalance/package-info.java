/**
 * Live expert rebalancing and re-placement: the load pools report, plans from it, and the switch
 * that moves pools and attention instances to a new placement while requests run.
 */
package io.disaggmoe.orchestration.rebalance;
