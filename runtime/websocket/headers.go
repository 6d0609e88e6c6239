package websocket

import (
	"net/http"
	"net/textproto"

	"golang.org/x/net/http/httpguts"

	"github.com/netrun/netrun/runtime/socketerror"
)

// reservedHeaders are the request headers SetRequestHeader refuses, with
// the reason: hop-by-hop headers, which belong to one connection and not
// to the request, and the headers the handshake itself sets.
var reservedHeaders = map[string]string{
	"Connection":               "a hop-by-hop header set by the handshake",
	"Keep-Alive":               "a hop-by-hop header",
	"Proxy-Connection":         "a hop-by-hop header",
	"Proxy-Authenticate":       "a hop-by-hop header",
	"Proxy-Authorization":      "a hop-by-hop header; netrun uses no proxy",
	"Te":                       "a hop-by-hop header",
	"Trailer":                  "a hop-by-hop header",
	"Transfer-Encoding":        "a hop-by-hop header",
	"Upgrade":                  "a hop-by-hop header set by the handshake",
	"Content-Length":           "the handshake request has no body",
	"Host":                     "it comes from the URI",
	"Sec-Websocket-Key":        "the handshake sets it",
	"Sec-Websocket-Version":    "the handshake sets it",
	"Sec-Websocket-Accept":     "a response header",
	"Sec-Websocket-Protocol":   "use Control().AppendSupportedProtocol",
	"Sec-Websocket-Extensions": "extensions are not supported, as in WinRT",
}

// checkRequestHeader validates a SetRequestHeader call and returns the
// canonical name.
func checkRequestHeader(op, name, value string) (string, error) {
	if !httpguts.ValidHeaderFieldName(name) {
		return "", socketerror.InvalidArg(op, "headerName", "%q is not a valid HTTP header name", name)
	}
	canon := textproto.CanonicalMIMEHeaderKey(name)
	if why, ok := reservedHeaders[canon]; ok {
		return "", socketerror.InvalidArg(op, "headerName", "%s cannot be set: %s", canon, why)
	}
	if !httpguts.ValidHeaderFieldValue(value) {
		return "", socketerror.InvalidArg(op, "headerValue", "%q is not a valid HTTP header value (no control characters or line breaks)", value)
	}
	return canon, nil
}

// setHeader records a checked header in h, replacing earlier values.
func setHeader(h http.Header, canon, value string) { h[canon] = []string{value} }
