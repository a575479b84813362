package lab

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// A Netns is one named network namespace of the lab.
type Netns struct {
	Name string // as `ip netns` knows it

	mu sync.RWMutex // held for reading while a thread enters the namespace
	fd int          // open while the lab is; -1 after close
}

// openNetns opens the namespace name, created by `ip netns add`.
func openNetns(name string) (*Netns, error) {
	fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening namespace %s: %w", name, err)
	}
	return &Netns{Name: name, fd: fd}, nil
}

func (n *Netns) close() {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fd >= 0 {
		unix.Close(n.fd)
		n.fd = -1
	}
}

// Do runs f on a locked OS thread inside n and returns its error. Sockets f
// opens belong to n and may be used from any goroutine after Do returns;
// goroutines f starts do not run in n.
func (n *Netns) Do(f func() error) error {
	ch := make(chan error, 1)
	go func() {
		// Never unlocked: the thread stays in n, and a goroutine that
		// returns locked makes the runtime end its thread.
		runtime.LockOSThread()
		if err := n.enter(); err != nil {
			ch <- err
			return
		}
		ch <- f()
	}()
	return <-ch
}

// enter moves the calling thread into n. The lock keeps close from
// closing the descriptor (and the number from being reused) meanwhile: a
// dial a test gave up on may still be on its way in as the lab closes.
func (n *Netns) enter() error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.fd < 0 {
		return fmt.Errorf("entering namespace %s: the lab is closed", n.Name)
	}
	if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("entering namespace %s: %w", n.Name, err)
	}
	return nil
}

// Dial connects to addr from inside n. It is a net.Dialer's DialContext
// with the socket created in n.
func (n *Netns) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Listen listens on addr inside n.
func (n *Netns) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() error {
		var err error
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// Command returns a command that runs name with args inside n
// (through `ip netns exec`).
func (n *Netns) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Run runs name with args inside n and returns its standard output, or an
// error quoting the command and its standard error.
func (n *Netns) Run(ctx context.Context, name string, args ...string) (string, error) {
	return run(n.Command(ctx, name, args...))
}

// run runs cmd and returns its standard output, or an error quoting the
// command and its standard error.
func run(cmd *exec.Cmd) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("running %s: %v: %s", strings.Join(cmd.Args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.String(), nil
}

// ip runs the ip command with args.
func ip(ctx context.Context, args ...string) error {
	_, err := run(exec.CommandContext(ctx, "ip", args...))
	return err
}
