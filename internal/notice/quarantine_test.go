package notice_test

import (
	"net"
	"net/http"
	"net/netip"
	"testing"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/identify"
	"github.com/curfew/curfew/internal/notice"
)

// TestUnregisteredPage: on a quarantining LAN, an unregistered device's
// page says, in its language, that the network admits registered devices
// only, shows its MAC, and for a randomised MAC how to turn the private
// address off on iOS, Android, Windows and macOS; a registered device is
// not restricted.
func TestUnregisteredPage(t *testing.T) {
	random, fixed, known := mustMAC("06:1a:2b:3c:4d:5e"), mustMAC("00:1a:2b:3c:4d:5f"), mustMAC("02:00:00:00:00:07")
	macs := map[netip.Addr]net.HardwareAddr{
		netip.MustParseAddr("192.168.50.30"): random,
		netip.MustParseAddr("192.168.50.31"): fixed,
		netip.MustParseAddr("192.168.50.32"): known,
	}
	s := newServer(t, notice.Config{Identify: identify.Func(func(a netip.Addr) (net.HardwareAddr, bool) { m, ok := macs[a]; return m, ok })})
	snap := snapshot()
	snap.Quarantine, snap.Registered = true, curfew.NewRegistry([]net.HardwareAddr{known, cutMAC})
	if err := s.Apply(t.Context(), snap); err != nil {
		t.Fatal(err)
	}

	resp, body := request(t, s.Handler(), "GET", "http://notice.test/", "192.168.50.30:4000")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d, want 200", resp.StatusCode)
	}
	wantContains(t, body,
		"<h1>Device not registered</h1>",
		"Embassy guest Wi-Fi admits registered devices only, and this device is not registered.",
		"<code>06:1a:2b:3c:4d:5e</code>",
		"iPhone and iPad: Settings › Wi-Fi",
		"Android: Settings › Network &amp; internet",
		"Windows: Settings › Network &amp; internet › Wi-Fi",
		"Mac: System Settings › Wi-Fi",
		`<a href="mailto:it-desk@embassy.example">it-desk@embassy.example</a>`,
	)
	wantLacks(t, body, "Time left", "Ask the operator", "<form")

	_, body = request(t, s.Handler(), "GET", "http://notice.test/", "192.168.50.31:4000", "Accept-Language", "es-MX,es;q=0.9")
	wantContains(t, body, "<h1>Dispositivo no registrado</h1>", "admite solo dispositivos registrados", "<code>00:1a:2b:3c:4d:5f</code>")
	wantLacks(t, body, "Dirección Wi-Fi privada", "Private Wi-Fi")

	_, body = request(t, s.Handler(), "GET", "http://notice.test/", "192.168.50.32:4000")
	wantContains(t, body, "<h1>Not restricted</h1>")

	// The captive-portal API tells an unregistered device it is held.
	_, body = request(t, s.Handler(), "GET", "http://notice.test/captive-portal/api", "192.168.50.30:4000", "Accept", "application/captive+json")
	wantContains(t, body, `"captive":true`)
}
