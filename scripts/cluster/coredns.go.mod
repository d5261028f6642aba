// Wrapper module that builds CoreDNS (cluster DNS for the local cluster: executors reach the
// driver at <app>-driver-svc.<ns>.svc) from the Go module proxy; see scripts/cluster/build.sh.
module sparkinfer.local/coredns

go 1.26.0

require github.com/coredns/coredns v1.15.0
