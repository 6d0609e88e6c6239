package networking

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// DNS limits (RFC 1035 2.3.4), on the ASCII form without the root dot.
const (
	maxLabelLen  = 63
	maxDomainLen = 253
)

// parseDomain validates s as a domain name and computes its canonical
// (ASCII, lower case) and display (Unicode) forms.
//
// An all-ASCII name is checked against the LDH rules plus '_' only, as
// net/http does: IDNA processing applies to names with non-ASCII
// characters, so that real names such as "r3---sn-abc.example", which
// UTS #46 CheckHyphens would refuse, keep working. Its "xn--" labels must
// still decode as IDNA does.
func parseDomain(s string) (*HostName, string) {
	name := s
	ascii := isASCII(name)
	if !ascii {
		// UTS #46 maps these full stops to '.'; do it first so that labels
		// are split where IDNA will split them.
		name = strings.NewReplacer("\u3002", ".", "\uFF0E", ".", "\uFF61", ".").Replace(name)
	}
	fqdn := strings.HasSuffix(name, ".")
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return nil, "has no label"
	}
	if reason := checkChars(name); reason != "" {
		return nil, reason
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" {
			return nil, "has an empty label"
		}
	}

	if ascii {
		for i, l := range labels {
			labels[i] = strings.ToLower(l)
		}
	} else {
		var reason string
		if labels, reason = toASCII(labels); reason != "" {
			return nil, reason
		}
	}

	for _, l := range labels {
		if reason := checkLabel(l); reason != "" {
			return nil, reason
		}
	}
	canonical := strings.Join(labels, ".")
	if len(canonical) > maxDomainLen {
		return nil, "is " + strconv.Itoa(len(canonical)) + " bytes long in ASCII form, more than " + strconv.Itoa(maxDomainLen)
	}
	if endsInNumber(canonical) {
		return nil, "ends in a number (as " + strconv.Quote(canonical) + ") but is not a valid IPv4 address"
	}
	display, reason := toUnicode(labels)
	if reason != "" {
		return nil, reason
	}
	return &HostName{raw: s, canonical: canonical, display: display, typ: DomainName, fqdn: fqdn}, ""
}

// checkChars refuses whitespace, control characters and ASCII punctuation
// other than '.', '-' and '_'. Other non-ASCII characters are left to IDNA.
func checkChars(name string) string {
	for _, r := range name {
		switch {
		case r < utf8.RuneSelf && (isLDH(byte(r)) || r == '.'):
		case unicode.IsSpace(r):
			return "contains whitespace"
		case unicode.IsControl(r):
			return "contains a control character"
		case r == ':':
			return "contains ':', which only IPv6 addresses may have"
		case r < utf8.RuneSelf:
			return "contains the invalid character " + strconv.QuoteRune(r)
		}
	}
	return ""
}

// isLDH reports whether b may appear in an ASCII label: a letter, a digit,
// '-' or '_'.
func isLDH(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_'
}

// checkLabel checks one label of the ASCII form.
func checkLabel(l string) string {
	switch {
	case l == "":
		return "has an empty label"
	case len(l) > maxLabelLen:
		return "has a label of " + strconv.Itoa(len(l)) + " bytes, more than " + strconv.Itoa(maxLabelLen)
	case l[0] == '-':
		return "has a label that starts with '-'"
	case l[len(l)-1] == '-':
		return "has a label that ends with '-'"
	}
	for i := 0; i < len(l); i++ {
		if !isLDH(l[i]) {
			return "contains the invalid character " + strconv.QuoteRune(rune(l[i]))
		}
	}
	if hasACEPrefix(l) {
		if _, err := idna.Lookup.ToUnicode(l); err != nil {
			return "has a label that is not valid IDNA: " + err.Error()
		}
	}
	return ""
}

// toASCII converts the labels of a name that has non-ASCII characters
// with idna.Lookup. ASCII labels with '_' are not valid under UTS #46's
// STD3 rules but are valid DNS labels (RFC 2782 service labels); they are
// replaced by a neutral placeholder for the conversion and put back after.
func toASCII(labels []string) ([]string, string) {
	in := make([]string, len(labels))
	for i, l := range labels {
		if isASCII(l) && strings.Contains(l, "_") {
			in[i] = "a"
		} else {
			in[i] = l
		}
	}
	out, err := idna.Lookup.ToASCII(strings.Join(in, "."))
	if err != nil {
		return nil, "is not a valid international domain name: " + err.Error()
	}
	res := strings.Split(out, ".")
	if len(res) != len(labels) {
		return nil, "has characters that IDNA maps to label separators"
	}
	for i, l := range labels {
		if in[i] != l {
			res[i] = strings.ToLower(l)
		}
	}
	return res, ""
}

// toUnicode returns the display form of the ASCII labels: each "xn--"
// label decoded, the others as they are.
func toUnicode(labels []string) (string, string) {
	var b strings.Builder
	for i, l := range labels {
		if i > 0 {
			b.WriteByte('.')
		}
		if hasACEPrefix(l) {
			u, err := idna.Lookup.ToUnicode(l)
			if err != nil {
				return "", "has a label that is not valid IDNA: " + err.Error()
			}
			l = u
		}
		b.WriteString(l)
	}
	return b.String(), ""
}

func hasACEPrefix(l string) bool {
	return len(l) >= 4 && l[:4] == "xn--"
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// endsInNumber reports whether the last label of name (a trailing dot
// ignored) is a number in the sense of the WHATWG URL standard's "ends in a
// number checker": all decimal digits, or "0x" followed by hexadecimal
// digits. Such a name can only be an IPv4 address.
func endsInNumber(name string) bool {
	name = strings.TrimSuffix(name, ".")
	last := name[strings.LastIndexByte(name, '.')+1:]
	if last == "" {
		return false
	}
	if allDigits(last) {
		return true
	}
	return len(last) >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') &&
		(len(last) == 2 || allHex(last[2:]))
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F') {
			return false
		}
	}
	return s != ""
}
