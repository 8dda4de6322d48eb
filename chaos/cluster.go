package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one supervised child process. Whatever ends it (our SIGKILL or its own crash), the
// supervisor starts it again after a pause, as systemd or Kubernetes would; only Stop ends it
// for good. Kills are counted apart from exits we did not cause.
type Proc struct {
	Name string
	Path string
	Args []string
	Env  []string
	Log  string // file that collects stdout and stderr across restarts

	mu       sync.Mutex
	cmd      *exec.Cmd
	stopping bool
	pause    time.Duration // before the next start
	killed   bool          // the current run ended by our SIGKILL
	starts   int
	kills    int
	crashes  []string
	done     chan struct{}
}

// Start runs the process and supervises it until Stop.
func (p *Proc) Start() error {
	if err := p.spawn(); err != nil {
		return err
	}
	p.done = make(chan struct{})
	go p.supervise()
	return nil
}

func (p *Proc) spawn() error {
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group, so a kill reaches nothing but it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	f.Close() // the child holds its own descriptor
	p.mu.Lock()
	p.cmd, p.killed = cmd, false
	p.starts++
	p.mu.Unlock()
	return nil
}

func (p *Proc) supervise() {
	defer close(p.done)
	for {
		p.mu.Lock()
		cmd := p.cmd
		p.mu.Unlock()
		err := cmd.Wait()
		p.mu.Lock()
		if p.stopping {
			p.mu.Unlock()
			return
		}
		if !p.killed {
			p.crashes = append(p.crashes, fmt.Sprintf("%s exited on its own: %v", p.Name, err))
		}
		pause := p.pause
		p.pause = 300 * time.Millisecond
		p.mu.Unlock()
		time.Sleep(pause)
		for {
			p.mu.Lock()
			stopping := p.stopping
			p.mu.Unlock()
			if stopping {
				return
			}
			if err := p.spawn(); err == nil {
				break
			}
			time.Sleep(time.Second)
		}
	}
}

// Kill sends SIGKILL (no chance to finish anything) and lets the supervisor start the
// process again after down.
func (p *Proc) Kill(down time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil || p.stopping {
		return
	}
	p.killed, p.pause = true, down
	p.kills++
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
}

// Pause freezes the process with SIGSTOP for d, then lets it go on with SIGCONT, as a frozen
// VM or a long GC pause would: it keeps its sockets and its state, and its clocks run on. It
// reports when it stopped and continued; ok is false when the process was not running, or
// was killed and started again meanwhile (the new one was never stopped).
func (p *Proc) Pause(d time.Duration) (stopped, continued time.Time, ok bool) {
	p.mu.Lock()
	cmd := p.cmd
	if cmd == nil || cmd.Process == nil || p.stopping {
		p.mu.Unlock()
		return time.Time{}, time.Time{}, false
	}
	stopped = time.Now()
	err := cmd.Process.Signal(syscall.SIGSTOP)
	p.mu.Unlock()
	if err != nil {
		return time.Time{}, time.Time{}, false
	}
	time.Sleep(d)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != cmd {
		return stopped, time.Now(), false
	}
	// Even while stopping: a stopped process would not see Stop's SIGTERM.
	_ = cmd.Process.Signal(syscall.SIGCONT)
	return stopped, time.Now(), true
}

// Stop ends the process for good: SIGTERM, then SIGKILL after grace.
func (p *Proc) Stop(grace time.Duration) {
	p.mu.Lock()
	p.stopping = true
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// Counts returns how often the process was started, killed by us, and what crashed it.
func (p *Proc) Counts() (starts, kills int, crashes []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts, p.kills, append([]string(nil), p.crashes...)
}

// Pid is the running process's id (0 when none).
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitListening waits until addr accepts TCP connections.
func waitListening(ctx context.Context, addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %s: %w", addr, limit, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// NATSServerPath is the nats-server binary the suite runs as its own child (never the
// machine's service, which it must not restart). DORMANT_CHAOS_NATS_SERVER overrides it.
func NATSServerPath() (string, error) {
	if p := os.Getenv("DORMANT_CHAOS_NATS_SERVER"); p != "" {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	return "", errors.New("nats-server not found (install it, or set DORMANT_CHAOS_NATS_SERVER)")
}

// NewNATS describes a JetStream nats-server child on addr with its file store under dir.
// Restarting it keeps the streams: the store is on disk and a SIGKILL loses only what the
// kernel had not yet been handed, which a process kill never does.
func NewNATS(bin, addr, dir string) (*Proc, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	return &Proc{Name: "nats-server", Path: bin, Log: filepath.Join(dir, "nats-server.log"),
		Args: []string{"-a", host, "-p", port, "-js", "-sd", filepath.Join(dir, "jetstream"), "-n", "chaos"}}, nil
}

// goBuild builds the packages into dir with the module's own build list (replace
// directives), once per run.
func goBuild(ctx context.Context, dir string, pkgs ...string) error {
	args := append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build %s: %w\n%s", strings.Join(pkgs, " "), err, out)
	}
	return nil
}
