// Package packaging holds no code, only tests that keep the deployment files
// honest: docker-compose.yml, .env.example, the Dockerfile, scripts/build.sh
// and the Helm chart under deploy/helm/identityd set only variables identityd
// reads, run only its real commands, and build the binary one way. The CI
// machines have no Docker engine and no helm, so the tests read the files
// (and render the chart with a small Helm-compatible renderer) instead of
// running them.
package packaging
