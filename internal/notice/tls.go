package notice

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCertInterval is how often a Server with a certificate checks its
// files for a change when Config.CertInterval is zero.
const DefaultCertInterval = 10 * time.Second

// certs is the Server's certificate, read from its PEM files, and what
// those files were like when it was read.
type certs struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]

	mu    sync.Mutex // serialises reloads; guards stamp
	stamp [2]fileStamp
}

// A fileStamp tells whether a file changed since it was read: renewal
// tools replace the file (a new inode) or write it again (a new size or
// modification time), and often swap a symbolic link, which os.Stat
// follows.
type fileStamp struct {
	ino     uint64
	size    int64
	modTime time.Time
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	st := fileStamp{size: fi.Size(), modTime: fi.ModTime()}
	if ino, ok := inode(fi); ok {
		st.ino = ino
	}
	return st, nil
}

// newCerts reads the certificate and key; an error names both files.
func newCerts(certFile, keyFile string) (*certs, error) {
	c := &certs{certFile: certFile, keyFile: keyFile}
	if _, err := c.reload(true); err != nil {
		return nil, err
	}
	return c, nil
}

// reload reads the files again if they changed since they were last read,
// or always if force is set, and reports whether it did. A pair that
// cannot be read or does not match leaves the current certificate in
// place and is returned as an error.
func (c *certs) reload(force bool) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var st [2]fileStamp
	for i, p := range []string{c.certFile, c.keyFile} {
		s, err := stampOf(p)
		if err != nil {
			return false, fmt.Errorf("reading TLS certificate %s and key %s: %w", c.certFile, c.keyFile, err)
		}
		st[i] = s
	}
	if !force && st == c.stamp {
		return false, nil
	}
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		c.stamp = st // said once, not at every check until the files change again
		return false, fmt.Errorf("reading TLS certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cur.Store(&pair)
	c.stamp = st
	return true, nil
}

func (c *certs) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}

// A sniffListener serves plain HTTP and TLS on one port: it hands out
// each connection it accepts as it is, or as a TLS server connection if
// its first byte is 0x16, which starts every TLS handshake and no HTTP
// request. The firewall sends restricted clients' plain HTTP to the
// notice server's port, and the captive-portal API must be HTTPS (RFC
// 8908): one port serves both.
type sniffListener struct {
	ln    net.Listener
	conf  *tls.Config
	wait  time.Duration // how long a client may take to send its first byte
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once

	mu  sync.Mutex // guards err
	err error      // ln's Accept error, once it failed
}

func newSniffListener(ln net.Listener, conf *tls.Config, wait time.Duration) *sniffListener {
	l := &sniffListener{ln: ln, conf: conf, wait: wait, conns: make(chan net.Conn), done: make(chan struct{})}
	go l.run()
	return l
}

// run accepts connections until ln fails or l is closed, and sniffs each
// on a goroutine of its own, so a client that sends nothing holds up no
// other.
func (l *sniffListener) run() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.mu.Lock()
			l.err = err
			l.mu.Unlock()
			l.Close()
			return
		}
		go l.sniff(c)
	}
}

func (l *sniffListener) sniff(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(l.wait))
	br := bufio.NewReaderSize(c, 1024)
	first, err := br.Peek(1)
	c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close()
		return
	}
	var out net.Conn = &peekedConn{Conn: c, r: br}
	if first[0] == 0x16 {
		out = tls.Server(out, l.conf)
	}
	select {
	case l.conns <- out:
	case <-l.done:
		c.Close()
	}
}

// Accept implements [net.Listener].
func (l *sniffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.err != nil {
			return nil, l.err
		}
		return nil, net.ErrClosed
	}
}

// Close implements [net.Listener].
func (l *sniffListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.ln.Close()
	})
	return err
}

// Addr implements [net.Listener].
func (l *sniffListener) Addr() net.Addr { return l.ln.Addr() }

// peekedConn is a connection whose first bytes were read ahead into r.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(b []byte) (int, error) { return c.r.Read(b) }
