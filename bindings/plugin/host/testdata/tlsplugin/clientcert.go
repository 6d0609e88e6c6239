package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/netrun/netrun/bindings/plugin/sdk"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// clientCert checks client certificates against `openssl s_server
// -Verify 1` on port: a line goes both ways at Tls12 and Unspecified
// (TLS 1.3) with the certificate read from certFile and keyFile, and
// fails without it; the certificate cannot change once connected; one
// without its key is E_INVALIDARG. A wss connect to the same server logs
// "wss" with its error with and without the certificate (the server
// speaks no HTTP, so both fail, but only the one without fails the
// handshake). It logs "checks done" at the end.
func clientCert(ctx context.Context, h *sdk.Host, check func(string, error), port, certFile, keyFile string) error {
	log := h.Logger()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	local, _ := networking.NewHostName("127.0.0.1")

	exchange := func(level sockets.SocketProtectionLevel, withCert bool) error {
		s := h.NewStreamSocket()
		defer s.Close()
		if withCert {
			if err := s.Control().SetClientCertificate(&cert); err != nil {
				return err
			}
			if s.Control().ClientCertificate() != &cert {
				return fmt.Errorf("ClientCertificate does not return the certificate set")
			}
		}
		if err := s.Connect(ctx, local, port, level); err != nil {
			return err
		}
		if err := lineEcho(ctx, s, "hello client"); err != nil {
			return err
		}
		if err := s.Control().SetClientCertificate(nil); socketerror.HResultOf(err) != socketerror.EIllegalMethodCall {
			return fmt.Errorf("SetClientCertificate once connected: %v, want E_ILLEGAL_METHOD_CALL", err)
		}
		return nil
	}
	fails := func(err error) error {
		if err == nil {
			return fmt.Errorf("the server accepted a client without a certificate")
		}
		return nil
	}
	check("clientcert: Tls12 with the certificate", exchange(sockets.Tls12, true))
	check("clientcert: Tls12 without fails", fails(exchange(sockets.Tls12, false)))
	check("clientcert: TLS 1.3 with the certificate", exchange(sockets.Unspecified, true))
	check("clientcert: TLS 1.3 without fails", fails(exchange(sockets.Unspecified, false)))

	noKey := tls.Certificate{Certificate: cert.Certificate}
	err = h.NewStreamSocket().Control().SetClientCertificate(&noKey)
	check("clientcert: a certificate without its key is E_INVALIDARG", wantHResult(err, socketerror.EInvalidArg))
	err = h.NewMessageWebSocket().Control().SetClientCertificate(&noKey)
	check("clientcert: the same on a WebSocket", wantHResult(err, socketerror.EInvalidArg))

	for _, withCert := range []bool{true, false} {
		m := h.NewMessageWebSocket()
		if withCert {
			if err := m.Control().SetClientCertificate(&cert); err != nil {
				return err
			}
		}
		err := m.Connect(ctx, "wss://127.0.0.1:"+port+"/")
		m.Close()
		log.Info("wss", "with", withCert, "err", fmt.Sprint(err), "status", socketerror.GetStatus(err).String())
	}
	log.Info("checks done")
	<-ctx.Done()
	return nil
}
