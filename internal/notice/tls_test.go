package notice_test

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
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/identify"
	"github.com/curfew/curfew/internal/notice"
)

// testCA is a certificate authority made for one test, which its clients
// trust as a phone trusts a public one.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "curfew test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue writes a certificate for name, with serial number serial, and its
// key to certFile and keyFile.
func (ca *testCA) issue(t *testing.T, name string, serial int64, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Written next to the files and renamed over them, as renewal tools do.
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{keyFile, "PRIVATE KEY", kder}, {certFile, "CERTIFICATE", der}} {
		tmp := f.path + ".new"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
}

const portalName = "notice.example.org"

// httpsClient is a client that trusts ca and reaches portalName at addr.
func httpsClient(ca *testCA, addr string) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: ca.pool},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, addr)
			},
			DisableKeepAlives: true,
		},
	}
}

// TestCaptiveAPIOverTLS serves the captive-portal API with a certificate
// for the portal's name, on IPv4 and IPv6: a client that checks the
// certificate gets application/captive+json over HTTPS, and plain HTTP
// still works on the same port (the firewall sends restricted clients'
// port 80 there). A renewed certificate is served once its files change,
// and a broken one keeps the last good one.
func TestCaptiveAPIOverTLS(t *testing.T) {
	for _, family := range []struct{ name, listen string }{{"v4", "127.0.0.1:0"}, {"v6", "[::1]:0"}} {
		t.Run(family.name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "notice.pem"), filepath.Join(dir, "notice.key")
			ca := newTestCA(t)
			ca.issue(t, portalName, 100, certFile, keyFile)
			s := newServer(t, notice.Config{
				Identify:     identify.Func(func(a netip.Addr) (net.HardwareAddr, bool) { return cutMAC, a.IsLoopback() }),
				PortalURL:    "https://" + portalName + "/",
				TLSCert:      certFile,
				TLSKey:       keyFile,
				CertInterval: 10 * time.Millisecond,
			})
			ln, err := net.Listen("tcp", family.listen)
			if err != nil {
				t.Skipf("no %s loopback: %v", family.name, err)
			}
			go s.Serve(ln)
			addr := ln.Addr().String()
			client := httpsClient(ca, addr)

			// captive fetches the API over HTTPS and returns the serial
			// number of the certificate that was served.
			captive := func() (serial int64, body string) {
				t.Helper()
				resp, err := client.Get("https://" + portalName + "/captive-portal/api")
				if err != nil {
					t.Fatalf("GET https://%s/captive-portal/api: %v", portalName, err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if ct := resp.Header.Get("Content-Type"); ct != "application/captive+json" {
					t.Errorf("Content-Type = %q, want application/captive+json", ct)
				}
				return resp.TLS.PeerCertificates[0].SerialNumber.Int64(), string(b)
			}
			serial, body := captive()
			if serial != 100 {
				t.Errorf("served certificate %d, want 100", serial)
			}
			var st struct {
				Captive   bool   `json:"captive"`
				PortalURL string `json:"user-portal-url"`
				Seconds   int64  `json:"seconds-remaining"`
			}
			if err := json.Unmarshal([]byte(body), &st); err != nil {
				t.Fatalf("captive state %q: %v", body, err)
			}
			if !st.Captive || st.PortalURL != "https://"+portalName+"/" || st.Seconds != 26*3600 {
				t.Errorf("captive state = %+v, want captive with the https portal and 93600 s left", st)
			}

			// Plain HTTP on the same port.
			resp, err := http.Get("http://" + addr + "/captive-portal/api")
			if err != nil {
				t.Fatalf("plain HTTP on the TLS port: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(b), `"captive":true`) {
				t.Errorf("plain HTTP answer = %q, want captive", b)
			}

			// A client that does not trust the certificate is refused.
			untrusted := httpsClient(newTestCA(t), addr)
			if resp, err := untrusted.Get("https://" + portalName + "/captive-portal/api"); err == nil {
				resp.Body.Close()
				t.Error("a client that does not trust the certificate connected")
			}

			// Renewal: the new certificate is served once the files change.
			ca.issue(t, portalName, 101, certFile, keyFile)
			deadline := time.Now().Add(10 * time.Second)
			for serial, _ = captive(); serial != 101; serial, _ = captive() {
				if time.Now().After(deadline) {
					t.Fatalf("renewed certificate not served within 10s (still %d)", serial)
				}
				time.Sleep(10 * time.Millisecond)
			}

			// A broken file keeps the last good certificate.
			if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := s.ReloadCert(); err == nil || !strings.Contains(err.Error(), certFile) {
				t.Errorf("ReloadCert of a broken file = %v, want an error naming %s", err, certFile)
			}
			if serial, _ = captive(); serial != 101 {
				t.Errorf("after a broken renewal: served certificate %d, want 101", serial)
			}
		})
	}
}

func TestNewChecksTLSFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "notice.pem"), filepath.Join(dir, "notice.key")
	newTestCA(t).issue(t, portalName, 1, certFile, keyFile)
	other := filepath.Join(dir, "other.key")
	newTestCA(t).issue(t, portalName, 2, filepath.Join(dir, "other.pem"), other)
	for _, tt := range []struct {
		name      string
		cert, key string
		wantInErr string
	}{
		{"cert without key", certFile, "", "both"},
		{"key without cert", "", keyFile, "both"},
		{"missing cert", filepath.Join(dir, "missing.pem"), keyFile, "missing.pem"},
		{"key of another certificate", certFile, other, "other.key"},
	} {
		_, err := notice.New(notice.Config{TLSCert: tt.cert, TLSKey: tt.key})
		if err == nil || !strings.Contains(err.Error(), tt.wantInErr) {
			t.Errorf("%s: New = %v, want an error mentioning %q", tt.name, err, tt.wantInErr)
		}
	}
}
