package networking_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/netrun/netrun/runtime/socketerror"
)

// wantSocketError fails t unless err is a *socketerror.Error with the
// given status and HRESULT. For HRESULT 0 it expects st's canonical one.
func wantSocketError(t *testing.T, err error, st socketerror.Status, hr socketerror.HResult) *socketerror.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %v", st)
	}
	var se *socketerror.Error
	if !errors.As(err, &se) {
		t.Fatalf("err = %T %v, want a *socketerror.Error", err, err)
	}
	if hr == 0 {
		hr = st.HResult()
	}
	if got := socketerror.GetStatus(err); got != st {
		t.Errorf("GetStatus(%v) = %v, want %v", err, got, st)
	}
	if got := socketerror.HResultOf(err); got != hr {
		t.Errorf("HResultOf(%v) = %v, want %v", err, got, hr)
	}
	if se.Op == "" {
		t.Errorf("err %v has no Op", err)
	}
	return se
}

// wantInvalidArg fails t unless err is an E_INVALIDARG error naming arg.
func wantInvalidArg(t *testing.T, err error, arg string) {
	t.Helper()
	se := wantSocketError(t, err, socketerror.Unknown, socketerror.EInvalidArg)
	if want := `argument "` + arg + `"`; !strings.Contains(se.Message, want) {
		t.Errorf("err %v does not name %s", err, want)
	}
}

// noDNS returns a resolver that fails t if anything sends it a DNS query:
// for tests whose answers must come without DNS. It still reads
// /etc/hosts, as every Go resolver does.
func noDNS(t *testing.T) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			t.Errorf("unexpected DNS query over %s to %s", network, address)
			return nil, errors.New("this test sends no DNS query")
		},
	}
}
