// Package whitelist will own each card's trusted merchants (R-WL-*): adding one after a successful
// confirmation, listing and removing them, and the lookup the risk decision asks. Empty until its issue.
package whitelist
