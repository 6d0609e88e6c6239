package websocket_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netrun/netrun/internal/testpeer"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/websocket"
)

func TestWSS(t *testing.T) {
	ca := testpeer.NewCA(t, "netrun ws CA")
	leaf := ca.Issue(t, testpeer.LeafOptions{})
	srv := listen(t, &leaf.TLS)
	ch := srv.acceptMessage(t, websocket.AcceptOptions{Protocols: []string{"p"}})
	c := websocket.NewMessageWebSocket(&sockets.Env{RootCAs: ca.Pool})
	defer c.Close()
	c.Control().AppendSupportedProtocol("p")
	if err := c.Connect(testCtx(t), srv.URL+"/secure"); err != nil {
		t.Fatal(err)
	}
	s := get(t, ch)
	echo(t, s)
	info := c.Information()
	if !info.ServerCertificate().Equal(leaf.Cert) || info.ServerCertificateErrorSeverity() != sockets.SeverityNone ||
		len(info.ServerCertificateErrors()) != 0 || info.Protocol() != "p" {
		t.Fatalf("Information: cert %v, severity %s, errors %v, protocol %q", info.ServerCertificate().Subject,
			info.ServerCertificateErrorSeverity(), info.ServerCertificateErrors(), info.Protocol())
	}
	got := messages(c.MessageReceived())
	send(t, c, []byte("over TLS"))
	if m := recv(t, got); string(m.data) != "over TLS" {
		t.Fatalf("got %q", m.data)
	}
}

// TestWSSIgnorableErrors follows WinRT's retry flow: the connect fails on
// an untrusted certificate, the errors are read from Information, listed
// as ignorable, and the same socket connects.
func TestWSSIgnorableErrors(t *testing.T) {
	leaf := testpeer.SelfSigned(t, testpeer.LeafOptions{})
	srv := listen(t, &leaf.TLS)
	c := websocket.NewMessageWebSocket(nil)
	defer c.Close()
	refused := srv.acceptMessage(t, websocket.AcceptOptions{}) // serves the TLS handshake
	err := c.Connect(testCtx(t), srv.URL)
	wantWebStatus(t, err, websocket.CertificateContainsErrors)
	if socketerror.GetStatus(err) != socketerror.CertificateUntrustedRoot {
		t.Fatalf("socket status %s", socketerror.GetStatus(err))
	}
	if r := <-refused; r.err == nil {
		t.Fatal("the server accepted a client that refused its certificate")
	}
	errs := c.Information().ServerCertificateErrors()
	if !slices.Equal(errs, []sockets.ChainValidationResult{sockets.Untrusted}) ||
		c.Information().ServerCertificateErrorSeverity() != sockets.SeverityIgnorable {
		t.Fatalf("errors %v severity %s", errs, c.Information().ServerCertificateErrorSeverity())
	}
	if err := c.Control().SetIgnorableServerCertificateErrors(errs); err != nil {
		t.Fatal(err)
	}
	ch := srv.acceptMessage(t, websocket.AcceptOptions{})
	if err := c.Connect(testCtx(t), srv.URL); err != nil {
		t.Fatalf("Connect ignoring %v: %v", errs, err)
	}
	get(t, ch)
	if err := c.Control().SetIgnorableServerCertificateErrors([]sockets.ChainValidationResult{sockets.Revoked}); socketerror.HResultOf(err) == 0 {
		t.Fatal("a fatal error listed as ignorable after connect")
	}
}

func TestServerCustomValidation(t *testing.T) {
	ca := testpeer.NewCA(t, "netrun ws CA")
	leaf := ca.Issue(t, testpeer.LeafOptions{})
	srv := listen(t, &leaf.TLS)
	env := &sockets.Env{RootCAs: ca.Pool}

	t.Run("reject", func(t *testing.T) {
		c := websocket.NewMessageWebSocket(env)
		defer c.Close()
		c.ServerCustomValidationRequested().Add(func(a *websocket.ServerCustomValidationRequestedEventArgs) {
			if !a.ServerCertificate().Equal(leaf.Cert) || a.ServerCertificateErrorSeverity() != sockets.SeverityNone {
				t.Errorf("args: cert %v severity %s", a.ServerCertificate().Subject, a.ServerCertificateErrorSeverity())
			}
			a.Reject()
		})
		refused := srv.acceptMessage(t, websocket.AcceptOptions{})
		err := c.Connect(testCtx(t), srv.URL)
		wantWebStatus(t, err, websocket.CertificateIsInvalid)
		<-refused
	})
	t.Run("deferred accept", func(t *testing.T) {
		c := websocket.NewStreamWebSocket(env)
		defer c.Close()
		completed := make(chan struct{})
		c.ServerCustomValidationRequested().Add(func(a *websocket.ServerCustomValidationRequestedEventArgs) {
			d := a.GetDeferral()
			time.AfterFunc(20*time.Millisecond, func() { close(completed); d.Complete() })
		})
		ch := srv.acceptStream(t, websocket.AcceptOptions{})
		if err := c.Connect(testCtx(t), srv.URL); err != nil {
			t.Fatal(err)
		}
		select {
		case <-completed:
		default:
			t.Fatal("Connect returned before the deferral completed")
		}
		get(t, ch)
	})
	t.Run("deferred reject", func(t *testing.T) {
		c := websocket.NewMessageWebSocket(env)
		defer c.Close()
		c.ServerCustomValidationRequested().Add(func(a *websocket.ServerCustomValidationRequestedEventArgs) {
			d := a.GetDeferral()
			go func() { a.Reject(); d.Complete() }()
		})
		refused := srv.acceptMessage(t, websocket.AcceptOptions{})
		wantWebStatus(t, c.Connect(testCtx(t), srv.URL), websocket.CertificateIsInvalid)
		<-refused
	})
}

// TestWSSServerSeesTLSFailure checks that a client refusing the server's
// certificate is reported as a TLS failure, not as a bad request.
func TestWSSServerSeesTLSFailure(t *testing.T) {
	leaf := testpeer.SelfSigned(t, testpeer.LeafOptions{})
	srv := listen(t, &leaf.TLS)
	refused := srv.acceptMessage(t, websocket.AcceptOptions{})
	c := websocket.NewMessageWebSocket(nil)
	defer c.Close()
	if err := c.Connect(testCtx(t), srv.URL); err == nil {
		t.Fatal("connected to an untrusted server")
	}
	r := <-refused
	var we *websocket.Error
	if r.err == nil || errors.As(r.err, &we) && we.HTTPStatus != 0 {
		t.Fatalf("server error %v, want a TLS failure without an HTTP status", r.err)
	}
}

// TestWSSClientCertificate connects over wss to a net/http and
// coder/websocket server that requires a client certificate issued by the
// test CA: refused without Control().ClientCertificate, accepted with it,
// and the certificate cannot change once connected.
func TestWSSClientCertificate(t *testing.T) {
	ca := testpeer.NewCA(t, "netrun ws CA")
	leaf := ca.Issue(t, testpeer.LeafOptions{})
	client := ca.Issue(t, testpeer.LeafOptions{CommonName: "ws client", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	var wg sync.WaitGroup
	subjects := make(chan string, 4)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		subjects <- r.TLS.PeerCertificates[0].Subject.CommonName
		c := rawAccept(t, w, r, nil)
		if c == nil {
			return
		}
		defer c.CloseNow()
		typ, data, err := c.Read(r.Context())
		if err == nil {
			err = c.Write(r.Context(), typ, data)
		}
		if err != nil {
			t.Errorf("server: %v", err)
		}
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	url := "wss" + strings.TrimPrefix(srv.URL, "https")
	env := &sockets.Env{RootCAs: ca.Pool}

	t.Run("without", func(t *testing.T) {
		c := websocket.NewMessageWebSocket(env)
		defer c.Close()
		err := c.Connect(testCtx(t), url)
		if err == nil || !strings.Contains(err.Error(), "certificate required") {
			t.Fatalf("Connect without a client certificate: %v, want the server's certificate_required alert", err)
		}
	})
	t.Run("with", func(t *testing.T) {
		c := websocket.NewMessageWebSocket(env)
		defer c.Close()
		if err := c.Control().SetClientCertificate(&client.TLS); err != nil {
			t.Fatal(err)
		}
		if got := c.Control().ClientCertificate(); got != &client.TLS {
			t.Fatalf("ClientCertificate() = %p, want the one set", got)
		}
		got := messages(c.MessageReceived())
		if err := c.Connect(testCtx(t), url); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-subjects:
			if s != "ws client" {
				t.Fatalf("the server saw client certificate %q", s)
			}
		case <-time.After(wait):
			t.Fatal("the server's handler did not run")
		}
		send(t, c, []byte("mutual"))
		if m := recv(t, got); string(m.data) != "mutual" {
			t.Fatalf("got %q", m.data)
		}
		if err := c.Control().SetClientCertificate(nil); socketerror.HResultOf(err) != socketerror.EIllegalMethodCall {
			t.Fatalf("SetClientCertificate after Connect: %v, want E_ILLEGAL_METHOD_CALL", err)
		}
	})
}
