package websocket

import (
	"context"
	"crypto/x509"
	"slices"
	"sync"

	"github.com/netrun/netrun/runtime/sockets"
)

// ServerCustomValidationRequestedEventArgs is WinRT's
// WebSocketServerCustomValidationRequestedEventArgs: the server's
// certificate, offered to the application after the chain passed
// validation (errors listed in IgnorableServerCertificateErrors
// tolerated). A handler that calls Reject fails the connect; one that
// returns without it accepts. A handler that decides later takes a
// Deferral and completes it; Connect waits for every deferral, or for its
// context. If several handlers run, any Reject wins.
//
// The handlers run on the goroutine that called Connect. The args are
// valid until Connect returns; methods are safe for concurrent use.
type ServerCustomValidationRequestedEventArgs struct {
	// immutable
	leaf          *x509.Certificate
	intermediates []*x509.Certificate
	errors        []sockets.ChainValidationResult
	severity      sockets.SocketSslErrorSeverity

	mu       sync.Mutex // guards the fields below
	rejected bool
	pending  int           // deferrals not completed
	idle     chan struct{} // closed when pending returns to 0
}

// ServerCertificate returns the server's certificate.
func (a *ServerCustomValidationRequestedEventArgs) ServerCertificate() *x509.Certificate {
	return a.leaf
}

// ServerIntermediateCertificates returns the other certificates the server
// sent.
func (a *ServerCustomValidationRequestedEventArgs) ServerIntermediateCertificates() []*x509.Certificate {
	return slices.Clone(a.intermediates)
}

// ServerCertificateErrors returns the errors found in the chain; they
// were all listed as ignorable, or validation would have failed before
// the event.
func (a *ServerCustomValidationRequestedEventArgs) ServerCertificateErrors() []sockets.ChainValidationResult {
	return slices.Clone(a.errors)
}

// ServerCertificateErrorSeverity says whether there were errors, all of
// them ignorable.
func (a *ServerCustomValidationRequestedEventArgs) ServerCertificateErrorSeverity() sockets.SocketSslErrorSeverity {
	return a.severity
}

// Reject fails the connect: the server's certificate is not accepted.
func (a *ServerCustomValidationRequestedEventArgs) Reject() {
	a.mu.Lock()
	a.rejected = true
	a.mu.Unlock()
}

// GetDeferral returns a deferral that Connect waits for: call its
// Complete once the decision (Reject or not) is made.
func (a *ServerCustomValidationRequestedEventArgs) GetDeferral() *Deferral {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pending == 0 {
		a.idle = make(chan struct{})
	}
	a.pending++
	return &Deferral{a: a}
}

// wait returns once every deferral is complete, or ctx's error.
func (a *ServerCustomValidationRequestedEventArgs) wait(ctx context.Context) error {
	a.mu.Lock()
	if a.pending == 0 {
		a.mu.Unlock()
		return nil
	}
	idle := a.idle
	a.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *ServerCustomValidationRequestedEventArgs) isRejected() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rejected
}

// Deferral is Windows.Foundation.Deferral: work an event's sender waits
// for.
type Deferral struct {
	a    *ServerCustomValidationRequestedEventArgs
	once sync.Once
}

// Complete ends the deferral. Calls after the first do nothing.
func (d *Deferral) Complete() {
	d.once.Do(func() {
		d.a.mu.Lock()
		defer d.a.mu.Unlock()
		d.a.pending--
		if d.a.pending == 0 {
			close(d.a.idle)
		}
	})
}
