package localstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startAttempts is how often a server is started on a new port when the port picked turned out to
// be taken (another test package may grab it between our pick and the server's bind).
const startAttempts = 3

// process is one server child process with its own temporary folder, which holds its data and
// its log and is removed by stop.
type process struct {
	name    string
	dir     string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed

	stopOnce sync.Once
	stopErr  error
}

// newTempDir makes the temporary folder of one server instance.
func newTempDir(name string) (string, error) {
	dir, err := os.MkdirTemp("", "caro-"+name+"-")
	if err != nil {
		return "", fmt.Errorf("start %s: make temporary folder: %w", name, err)
	}
	return dir, nil
}

// startProcess starts bin in its own process group (so stop also ends anything it spawns) with
// stdout and stderr going to a log file in dir. The process is killed when the test binary dies.
func startProcess(name, dir, bin string, args, env []string) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start %s: create log file: %w", name, err)
	}
	defer logFile.Close() // the child holds its own copy

	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: run %s: %w", name, bin, err)
	}
	p := &process{name: name, dir: dir, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// logs returns the end of the process's log, for error messages.
func (p *process) logs() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return tail(strings.TrimSpace(string(b)), 3000)
}

// addrInUse reports whether the process died because its port was taken.
func (p *process) addrInUse() bool {
	return p.exited() && strings.Contains(strings.ToLower(p.logs()), "address already in use")
}

// waitReady calls ready until it succeeds, the process exits, or ctx ends.
func (p *process) waitReady(ctx context.Context, ready func(context.Context) error) error {
	delay := 10 * time.Millisecond
	for {
		if p.exited() {
			return fmt.Errorf("start %s: it exited before answering (%v); its log:\n%s", p.name, p.waitErr, p.logs())
		}
		err := ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("start %s: not answering before the context ended (%v), last error: %v; its log:\n%s",
				p.name, ctx.Err(), err, p.logs())
		case <-p.done:
		case <-time.After(delay):
		}
		if delay < 200*time.Millisecond {
			delay *= 2
		}
	}
}

// stop kills the process group, waits for the process and removes its temporary folder. It kills
// at once (SIGKILL) rather than asking politely: the data is thrown away anyway, and FerretDB
// would otherwise wait about 3 s for clients that are still connected. The kernel frees the port
// when the process dies. It is safe to call more than once; later calls return the first result.
func (p *process) stop() error {
	p.stopOnce.Do(func() {
		// The negative pid addresses the whole group, also children of a leader that exited.
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		if err := os.RemoveAll(p.dir); err != nil {
			p.stopErr = fmt.Errorf("stop %s: remove %s: %w", p.name, p.dir, err)
		}
	})
	return p.stopErr
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago. The kernel picks it; the
// listener is closed again so the server can bind it. If another process takes the port in
// between, the server fails to start and the Start functions retry on a new port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freeUDPAndTCPPort returns a port free for both TCP and UDP on 127.0.0.1 (DNS serves both).
func freeUDPAndTCPPort() (int, error) {
	for range 20 {
		port, err := freePort()
		if err != nil {
			return 0, err
		}
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, errors.New("pick a free port on 127.0.0.1: no port was free for both TCP and UDP in 20 tries")
}

// startWithRetry runs start until it succeeds or fails for another reason than a taken port.
// start must clean up after itself when it fails, and report whether the failure was a port clash.
func startWithRetry[T any](start func() (v T, portTaken bool, err error)) (T, error) {
	var (
		v         T
		portTaken bool
		err       error
	)
	for range startAttempts {
		v, portTaken, err = start()
		if err == nil || !portTaken {
			return v, err
		}
	}
	return v, err
}

// removeDir removes a temporary folder of a server that did not start.
func removeDir(dir string) error {
	return os.RemoveAll(dir)
}

// startForTest starts a server for one test with start (bounded by two minutes): it fails tb if the
// server does not start and stops it in tb.Cleanup, reporting a failed stop.
func startForTest[S interface{ Stop() error }](tb testing.TB, start func(context.Context) (S, error)) S {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := start(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Error(err)
		}
	})
	return s
}
