package natsbus_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/services/platform/natsbus"
)

func startServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", server.RANDOM_PORT, true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s
}

// selfSignedCA writes a CA and a server certificate for 127.0.0.1 signed by it, returning
// the CA file and the server's TLS config.
func selfSignedCA(t *testing.T, dir string) (string, *tls.Config) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dormant test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}}, MinVersion: tls.VersionTLS12}
}

func TestAuthAgainstARealServer(t *testing.T) {
	dir := t.TempDir()
	caFile, tlsCfg := selfSignedCA(t, dir)
	tlsServer := startServer(t, &server.Options{TLS: true, TLSConfig: tlsCfg, TLSTimeout: 2})

	user, _ := nkeys.CreateUser()
	seed, _ := user.Seed()
	pub, _ := user.PublicKey()
	seedFile := filepath.Join(dir, "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	nkeyServer := startServer(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})

	tests := []struct {
		name   string
		url    string
		auth   natsbus.Auth
		wantOK bool
	}{
		{"TLS with the server's CA connects", tlsServer.ClientURL(), natsbus.Auth{TLSCA: caFile}, true},
		{"TLS without the CA is refused (unknown authority)", tlsServer.ClientURL(), natsbus.Auth{}, false},
		{"an nkey user with its seed connects", nkeyServer.ClientURL(), natsbus.Auth{NKeySeedFile: seedFile}, true},
		{"without the seed the server refuses", nkeyServer.ClientURL(), natsbus.Auth{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := tc.auth.Options()
			if err != nil {
				t.Fatal(err)
			}
			opts = append(opts, nats.Timeout(2*time.Second), nats.MaxReconnects(0))
			nc, err := natsbus.Connect(tc.url, "test", zap.NewNop(), opts...)
			if (err == nil) != tc.wantOK {
				t.Fatalf("connect: err = %v, want ok=%v", err, tc.wantOK)
			}
			if nc != nil {
				nc.Close()
			}
		})
	}
}

func TestAuthOptionsNameTheVariable(t *testing.T) {
	dir := t.TempDir()
	exists := filepath.Join(dir, "x")
	_ = os.WriteFile(exists, []byte("x"), 0o600)
	tests := []struct {
		auth    natsbus.Auth
		wantErr string
	}{
		{natsbus.Auth{CredsFile: filepath.Join(dir, "missing.creds")}, "DORMANT_NATS_CREDS"},
		{natsbus.Auth{TLSCA: filepath.Join(dir, "missing.pem")}, "DORMANT_NATS_TLS_CA"},
		{natsbus.Auth{TLSCert: exists}, "DORMANT_NATS_TLS_KEY: set both"},
		{natsbus.Auth{CredsFile: exists, NKeySeedFile: exists}, "set one, not both"},
		{natsbus.Auth{NKeySeedFile: exists}, "DORMANT_NATS_NKEY_SEED"},
	}
	for _, tc := range tests {
		_, err := tc.auth.Options()
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%+v: err = %v, want it to mention %q", tc.auth, err, tc.wantErr)
		}
	}
}
