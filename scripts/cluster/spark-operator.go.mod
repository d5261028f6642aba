// Wrapper module that builds the kubeflow spark-operator (controller + webhook, one binary with
// `controller start` / `webhook start`) from the Go module proxy, for the local cluster
// (scripts/cluster/build.sh). `go install ...@v2.5.2` does not work because the module's go.mod
// has replace directives, which only apply in the main module; so they are restated here: the
// operator's release pins the k8s.io/* libraries to v0.32.5 although it requires v0.33.3.
module sparkinfer.local/spark-operator

go 1.26.0

require github.com/kubeflow/spark-operator/v2 v2.5.2

replace (
	k8s.io/api => k8s.io/api v0.32.5
	k8s.io/apiextensions-apiserver => k8s.io/apiextensions-apiserver v0.32.5
	k8s.io/apimachinery => k8s.io/apimachinery v0.32.5
	k8s.io/apiserver => k8s.io/apiserver v0.32.5
	k8s.io/cli-runtime => k8s.io/cli-runtime v0.32.5
	k8s.io/client-go => k8s.io/client-go v0.32.5
	k8s.io/code-generator => k8s.io/code-generator v0.32.5
	k8s.io/component-base => k8s.io/component-base v0.32.5
	k8s.io/kubectl => k8s.io/kubectl v0.32.5
)
