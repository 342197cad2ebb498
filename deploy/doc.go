// Package deploy holds Pensieve's deployment recipes (Kubernetes manifests,
// systemd unit) and the offline tests that keep them valid. It is a module of
// its own, outside the nine, so the Kubernetes API types stay out of them.
package deploy
