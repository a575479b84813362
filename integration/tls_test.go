//go:build integration

package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/lab"
)

// portalName is the name the tests' certificate is for, which a real LAN
// resolves to the gateway (docs/captive-portal.md).
const portalName = "notice.example.org"

// issueCert writes to certFile and keyFile a certificate for portalName
// with serial number serial, signed by a CA made for the test, and
// returns a pool holding that CA, for clients to trust.
func issueCert(t *testing.T, serial int64, certFile, keyFile string) *x509.CertPool {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial * 1000), Subject: pkix.Name{CommonName: "curfew integration CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: portalName}, DNSNames: []string{portalName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	for _, f := range []struct {
		path string
		b    *pem.Block
	}{{keyFile, &pem.Block{Type: "PRIVATE KEY", Bytes: kder}}, {certFile, &pem.Block{Type: "CERTIFICATE", Bytes: der}}} {
		if err := os.WriteFile(f.path+".new", pem.EncodeToMemory(f.b), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f.path+".new", f.path); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool
}

// captiveTLS asks the gateway's notice server at a, over HTTPS for
// portalName, for c's RFC 8908 state, trusting pool. It returns the state
// and the serial number of the certificate the server showed.
func captiveTLS(t *testing.T, c *lab.Client, a netip.Addr, pool *x509.CertPool) (captiveState, int64, error) {
	addr := net.JoinHostPort(a.String(), strconv.Itoa(noticePort))
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool},
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return c.Dial(ctx, network, addr)
			},
		},
	}
	resp, err := client.Get("https://" + portalName + ":" + strconv.Itoa(noticePort) + "/captive-portal/api")
	if err != nil {
		return captiveState{}, 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/captive+json" {
		t.Errorf("client %d: HTTPS captive API at %s: Content-Type %q, want application/captive+json", c.Index, a, ct)
	}
	var st captiveState
	if err := json.Unmarshal(b, &st); err != nil {
		t.Errorf("client %d: HTTPS captive API at %s: %v in %q", c.Index, a, err, b)
	}
	return st, resp.TLS.PeerCertificates[0].SerialNumber.Int64(), nil
}

// TestCaptiveAPIOverHTTPS runs the daemon with notice.tls_cert and
// notice.tls_key: a cut-off client, which reaches nothing else on the
// gateway, gets the captive-portal API over HTTPS on the notice port, v4
// and v6, with a certificate it verifies for the portal's name, and is
// captive; another client is not; a new certificate is served after
// SIGHUP.
func TestCaptiveAPIOverHTTPS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "notice.pem"), filepath.Join(dir, "notice.key")
	pool := issueCert(t, 1, certFile, keyFile)
	g := newGatewayWith(t, lab.Config{Notice: lab.Notice{
		PortalURL: "https://" + portalName + ":" + strconv.Itoa(noticePort) + "/",
		TLSCert:   certFile, TLSKey: keyFile,
	}})
	c1, c2 := g.Clients[0], g.Clients[1]
	g.restrict(device(c1), "10m", "integration: captive API over HTTPS")
	for _, a := range []netip.Addr{lab.LANV4, lab.LANV6} {
		st, serial, err := captiveTLS(t, c1, a, pool)
		if err != nil {
			t.Fatalf("cut-off client 1: HTTPS captive API at %s: %v", a, err)
		}
		if !st.Captive || st.UserPortalURL != "https://"+portalName+":8480/" || st.SecondsRemaining == nil || serial != 1 {
			t.Errorf("cut-off client 1 at %s: %+v with certificate %d, want captive with the https portal and certificate 1", a, st, serial)
		}
		if st, _, err := captiveTLS(t, c2, a, pool); err != nil || st.Captive {
			t.Errorf("client 2 at %s: %+v, %v; want not captive", a, st, err)
		}
	}

	pool = issueCert(t, 2, certFile, keyFile)
	if err := syscall.Kill(g.DaemonPID(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// Well within the ten seconds after which the daemon would notice
	// the changed files by itself.
	var serial int64
	if _, ok := waitUntil(2*time.Second, 20*time.Millisecond, func() bool {
		_, serial, _ = captiveTLS(t, c1, lab.LANV4, pool)
		return serial == 2
	}); !ok {
		t.Errorf("after SIGHUP the notice server does not show the new certificate 2 (it shows %d; 0: one the new CA did not sign)", serial)
	}
}
