package localstack

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/carohealth/platform/internal/config"
)

// installScript is the repository-relative path of the script that builds the server binaries.
const installScript = "scripts/install-servers.sh"

// RepoRoot returns the root folder of the repository: the nearest folder, walking up from the
// working directory, that holds both go.mod and scripts/install-servers.sh. (Go runs tests in
// their package folder, so this finds the root from any test; the second file skips the go.mod of
// the server sources copied under .cache/src.)
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if fileExists(filepath.Join(dir, "go.mod")) && fileExists(filepath.Join(dir, installScript)) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no folder above the working directory holds go.mod and " +
				installScript + ": run from inside the repository")
		}
		dir = parent
	}
}

// CacheDir returns the folder the server binaries are installed under: $CARO_CACHE when set
// (the Makefile sets it), else .cache at the repository root. Binaries are in its bin/ folder.
func CacheDir() (string, error) {
	if dir, ok := config.LookupEnv("CARO_CACHE"); ok {
		return filepath.Abs(dir)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache"), nil
}

// installs remembers, per server, the result of running the install script once in this process.
var installs sync.Map // server name -> *installOnce

type installOnce struct {
	once sync.Once
	err  error
}

// Install runs scripts/install-servers.sh for one server ("ferretdb", "localkms", "mongotools" or
// "knot"), at most once per process. The script returns at once when the pinned build is already
// in the cache, and rebuilds when the pin changed; it locks per server, so test packages running in
// parallel wait for one build. The script's progress goes to stderr.
//
// Install is not bounded by a context on purpose: a cold build takes minutes, and cancelling it
// halfway only throws the work away; `go test -timeout` still bounds it.
func Install(server string) error {
	v, _ := installs.LoadOrStore(server, &installOnce{})
	o := v.(*installOnce)
	o.once.Do(func() { o.err = runInstall(server) })
	return o.err
}

func runInstall(server string) error {
	root, err := RepoRoot()
	if err != nil {
		return fmt.Errorf("install %s: %w", server, err)
	}
	cache, err := CacheDir()
	if err != nil {
		return fmt.Errorf("install %s: %w", server, err)
	}
	var out bytes.Buffer
	cmd := exec.Command("bash", filepath.Join(root, installScript), server)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CARO_CACHE="+cache)
	cmd.Stdout = os.Stderr // the script prints nothing on stdout; keep stdout clean for test output
	cmd.Stderr = &teeWriter{buf: &out}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("install %s: %s %s failed: %w\n%s\nrun `make servers` to see the full build output",
			server, installScript, server, err, tail(out.String(), 4000))
	}
	return nil
}

// binary installs server if needed and returns the path of its binary name in the cache.
func binary(server, name string) (string, error) {
	if err := Install(server); err != nil {
		return "", err
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(cache, "bin", name)
	if !fileExists(path) {
		return "", fmt.Errorf("install %s: %s is missing after %s ran: delete %s and run `make servers`",
			server, path, installScript, filepath.Join(cache, "bin", "."+server+".stamp"))
	}
	return path, nil
}

// teeWriter copies the script's stderr to our stderr (progress of a long build) and keeps it for
// the error message.
type teeWriter struct{ buf *bytes.Buffer }

func (t *teeWriter) Write(p []byte) (int, error) {
	t.buf.Write(p)
	return os.Stderr.Write(p)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// tail returns at most the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
