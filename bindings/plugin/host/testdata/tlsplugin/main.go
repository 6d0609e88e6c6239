// Command tlsplugin is a Go plugin that checks the SDK's TLS against
// `openssl s_server -rev` peers (each line comes back reversed). Its
// arguments are the ports, on 127.0.0.1, of a server whose certificate
// the host trusts and of one whose CA it does not. It logs one record per
// check ("check", with name, ok and detail), then "checks done".
//
// With the arguments "serve CERT KEY" it is a TLS echo server instead: a
// listener on 127.0.0.1 at Tls12 with that certificate, which logs
// "listening" with its port and echoes what each connection sends.
//
// With the arguments "clientcert PORT CERT KEY" it checks client
// certificates against a server on PORT that demands one (clientcert.go).
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"time"

	"github.com/netrun/netrun/bindings/plugin/sdk"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

func main() { sdk.Serve(sdk.PluginFunc(run)) }

func run(ctx context.Context, h *sdk.Host) error {
	log := h.Logger()
	check := func(name string, err error) {
		if err != nil {
			log.Info("check", "name", name, "ok", false, "detail", err.Error())
			return
		}
		log.Info("check", "name", name, "ok", true)
	}
	if len(os.Args) == 4 && os.Args[1] == "serve" {
		return serve(ctx, h, os.Args[2], os.Args[3])
	}
	if len(os.Args) == 5 && os.Args[1] == "clientcert" {
		return clientCert(ctx, h, check, os.Args[2], os.Args[3], os.Args[4])
	}
	if len(os.Args) != 3 {
		return fmt.Errorf("usage: tlsplugin GOOD_PORT BAD_PORT | tlsplugin serve CERT KEY")
	}
	good, bad := os.Args[1], os.Args[2]
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	local, _ := networking.NewHostName("127.0.0.1")
	name, _ := networking.NewHostName("localhost")

	// STARTTLS: connect in the clear, read (the read-ahead is then in
	// flight and must be stopped), upgrade, exchange a line.
	s := h.NewStreamSocket()
	check("upgrade: plain connect", s.Connect(ctx, local, good, sockets.PlainSocket))
	rctx, rcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err := s.InputStream().Read(rctx, make([]byte, 16), sockets.Partial)
	rcancel()
	if socketerror.GetStatus(err) != socketerror.ConnectionTimedOut {
		err = fmt.Errorf("a read before the handshake: %v, want ConnectionTimedOut", err)
	} else {
		err = nil
	}
	check("upgrade: nothing comes before the handshake", err)
	err = s.UpgradeToSsl(ctx, sockets.Tls12, name)
	check("upgrade: handshake", err)
	if err == nil && s.Information().ProtectionLevel() != sockets.Tls12 {
		err = fmt.Errorf("ProtectionLevel %s after the upgrade, want Tls12", s.Information().ProtectionLevel())
	}
	check("upgrade: Information.ProtectionLevel", err)
	check("upgrade: a line both ways", lineEcho(ctx, s, "hello upgrade"))
	err = s.UpgradeToSsl(ctx, sockets.Tls12, name)
	check("upgrade: a second upgrade is E_ILLEGAL_METHOD_CALL", wantHResult(err, socketerror.EIllegalMethodCall))
	s.Close()

	// An untrusted root fails the upgrade with its status and closes the
	// connection; Information tells what was wrong.
	b := h.NewStreamSocket()
	check("untrusted: plain connect", b.Connect(ctx, local, bad, sockets.PlainSocket))
	err = b.UpgradeToSsl(ctx, sockets.Tls12, name)
	var se *socketerror.Error
	if !errors.As(err, &se) || se.Status != socketerror.CertificateUntrustedRoot {
		err = fmt.Errorf("upgrade against an untrusted root: %v, want CertificateUntrustedRoot", err)
	} else {
		err = nil
	}
	check("untrusted: CertificateUntrustedRoot", err)
	in := b.Information()
	if !slices.Equal(in.ServerCertificateErrors(), []sockets.ChainValidationResult{sockets.Untrusted}) || in.ServerCertificateErrorSeverity() != sockets.SeverityIgnorable {
		err = fmt.Errorf("Information: errors %v severity %s, want [Untrusted] Ignorable", in.ServerCertificateErrors(), in.ServerCertificateErrorSeverity())
	}
	check("untrusted: Information reports Untrusted, Ignorable", err)
	_, err = b.InputStream().Read(ctx, make([]byte, 16), sockets.Partial)
	if !errors.Is(err, net.ErrClosed) {
		err = fmt.Errorf("read after a failed upgrade: %v, want net.ErrClosed", err)
	} else {
		err = nil
	}
	check("untrusted: the connection is closed", err)
	b.Close()

	// Listing the error before Connect lets the upgrade through.
	ig := h.NewStreamSocket()
	check("ignored: set IgnorableServerCertificateErrors",
		ig.Control().SetIgnorableServerCertificateErrors([]sockets.ChainValidationResult{sockets.Untrusted}))
	check("ignored: plain connect", ig.Connect(ctx, local, bad, sockets.PlainSocket))
	check("ignored: handshake", ig.UpgradeToSsl(ctx, sockets.Tls12, name))
	if got := ig.Information().ServerCertificateErrors(); !slices.Equal(got, []sockets.ChainValidationResult{sockets.Untrusted}) {
		err = fmt.Errorf("ServerCertificateErrors %v after an ignored error, want [Untrusted]", got)
	} else {
		err = nil
	}
	check("ignored: Information keeps the ignored error", err)
	check("ignored: a line both ways", lineEcho(ctx, ig, "hello anyway"))
	err = ig.Control().SetIgnorableServerCertificateErrors(nil)
	check("ignored: Control after Connect is E_ILLEGAL_METHOD_CALL", wantHResult(err, socketerror.EIllegalMethodCall))
	ig.Close()

	// TLS from the start: a trusted server; an untrusted one, then the
	// retry on the same socket with the errors Information reported.
	t := h.NewStreamSocket()
	check("Control.OutboundUnicastHopLimit", t.Control().SetOutboundUnicastHopLimit(64))
	check("Control.QualityOfService", t.Control().SetQualityOfService(sockets.LowLatency))
	check("Control.OutboundBufferSizeInBytes", t.Control().SetOutboundBufferSizeInBytes(1<<16))
	check("Control.SerializeConnectionAttempts", t.Control().SetSerializeConnectionAttempts(true))
	err = t.Connect(ctx, local, good, sockets.Tls12)
	check("tls connect", err)
	if err == nil && t.Information().ProtectionLevel() != sockets.Tls12 {
		err = fmt.Errorf("ProtectionLevel %s, want Tls12", t.Information().ProtectionLevel())
	}
	check("tls connect: Information.ProtectionLevel", err)
	check("tls connect: a line both ways", lineEcho(ctx, t, "hello tls"))
	t.Close()
	r := h.NewStreamSocket()
	err = r.Connect(ctx, local, bad, sockets.Tls12)
	check("tls connect: untrusted root", wantStatus(err, socketerror.CertificateUntrustedRoot))
	if in := r.Information(); in.ServerCertificateErrorSeverity() == sockets.SeverityIgnorable {
		err = r.Control().SetIgnorableServerCertificateErrors(in.ServerCertificateErrors())
	} else {
		err = fmt.Errorf("severity %s after an untrusted root, want Ignorable", in.ServerCertificateErrorSeverity())
	}
	check("tls connect: the retry's ignorable errors", err)
	check("tls connect: retry on the same socket", r.Connect(ctx, local, bad, sockets.Tls12))
	check("tls connect: retry: a line both ways", lineEcho(ctx, r, "hello retry"))
	r.Close()

	// Bad arguments name themselves.
	err = h.NewStreamSocket().Control().SetIgnorableServerCertificateErrors([]sockets.ChainValidationResult{sockets.Revoked})
	check("a fatal error cannot be ignored", wantNamed(err, socketerror.EInvalidArg, "IgnorableServerCertificateErrors"))
	p := h.NewStreamSocket()
	check("plain connect for a PlainSocket upgrade", p.Connect(ctx, local, good, sockets.PlainSocket))
	err = p.UpgradeToSsl(ctx, sockets.PlainSocket, name)
	check("an upgrade to PlainSocket is E_INVALIDARG", wantNamed(err, socketerror.EInvalidArg, "protectionLevel"))
	p.Close()

	log.Info("checks done")
	<-ctx.Done()
	return nil
}

// serve runs a TLS echo listener with the certificate in certFile and
// keyFile until ctx ends.
func serve(ctx context.Context, h *sdk.Host, certFile, keyFile string) error {
	l := h.NewStreamSocketListener()
	defer l.Close()
	if err := l.Control().LoadServerCertificate(certFile, keyFile); err != nil {
		return err
	}
	l.ConnectionReceived().Add(func(a *sdk.ConnectionReceivedEventArgs) {
		go func() {
			s := a.Socket
			defer s.Close()
			buf := make([]byte, 4096)
			for {
				n, err := s.InputStream().Read(ctx, buf, sockets.Partial)
				if err != nil {
					return
				}
				if _, err := s.OutputStream().Write(ctx, buf[:n]); err != nil {
					return
				}
			}
		}()
	})
	local, _ := networking.NewHostName("127.0.0.1")
	// A listener without a certificate cannot serve TLS.
	err := h.NewStreamSocketListener().BindEndpointTLS(ctx, local, "0", sockets.Tls12)
	h.Logger().Info("no certificate", "err", fmt.Sprint(err))
	if err := l.BindEndpointTLS(ctx, local, "0", sockets.Tls12); err != nil {
		return err
	}
	h.Logger().Info("listening", "port", l.Information().LocalPort())
	<-ctx.Done()
	return nil
}

// wantStatus checks that err carries status.
func wantStatus(err error, status socketerror.Status) error {
	if socketerror.GetStatus(err) != status {
		return fmt.Errorf("got %v, want %s", err, status)
	}
	return nil
}

// lineEcho writes line and a newline to s and reads it back reversed.
func lineEcho(ctx context.Context, s *sdk.StreamSocket, line string) error {
	if _, err := s.OutputStream().Write(ctx, []byte(line+"\n")); err != nil {
		return err
	}
	var got []byte
	buf := make([]byte, 256)
	for !bytes.HasSuffix(got, []byte("\n")) {
		n, err := s.InputStream().Read(ctx, buf, sockets.Partial)
		if err != nil {
			return fmt.Errorf("after %q: %w", got, err)
		}
		got = append(got, buf[:n]...)
	}
	want := []byte(line)
	slices.Reverse(want)
	if string(got) != string(want)+"\n" {
		return fmt.Errorf("got %q, want %q", got, string(want)+"\n")
	}
	return nil
}

// wantHResult checks that err carries hr.
func wantHResult(err error, hr socketerror.HResult) error {
	if socketerror.HResultOf(err) != hr {
		return fmt.Errorf("got %v, want HRESULT %#x", err, uint32(hr))
	}
	return nil
}

// wantNamed checks that err carries hr and names what.
func wantNamed(err error, hr socketerror.HResult, what string) error {
	if err := wantHResult(err, hr); err != nil {
		return err
	}
	if !bytes.Contains([]byte(err.Error()), []byte(what)) {
		return fmt.Errorf("%v does not name %s", err, what)
	}
	return nil
}
