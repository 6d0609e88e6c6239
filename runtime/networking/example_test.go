package networking_test

import (
	"context"
	"fmt"

	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
)

func ExampleNewHostName() {
	for _, s := range []string{"Bücher.Example.", "[FE80::1%eth0]", "192.0.2.1", "256.1.1.1"} {
		h, err := networking.NewHostName(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%v %s %s\n", h.Type(), h.CanonicalName(), h.DisplayName())
	}
	// Output:
	// DomainName xn--bcher-kva.example bücher.example
	// Ipv6 fe80::1%eth0 fe80::1%eth0
	// Ipv4 192.0.2.1 192.0.2.1
	// HostName: invalid argument (0x80070057): argument "hostName": "256.1.1.1" ends in a number but is not a valid IPv4 address: IPv4 field has value >255
}

func ExampleCompare() {
	n, err := networking.Compare("EXAMPLE.com.", "example.com")
	fmt.Println(n, err)
	// Output: 0 <nil>
}

func ExampleResolver_GetEndpointPairs() {
	var r networking.Resolver // net.DefaultResolver and /etc/services
	host, _ := networking.NewHostName("localhost")
	pairs, err := r.GetEndpointPairs(context.Background(), "tcp", host, "8080", networking.OptimizeForLongConnections)
	if err != nil {
		fmt.Println(socketerror.GetStatus(err))
		return
	}
	for _, p := range pairs {
		fmt.Println(p)
	}
	// Output:
	// *:* -> [::1]:8080
	// *:* -> 127.0.0.1:8080
}

func ExampleServices_LookupPort() {
	s := &networking.Services{Path: "testdata/services"}
	port, err := s.LookupPort("tcp", "web")
	fmt.Println(port, err)
	_, err = s.LookupPort("tcp", "gopher-ng")
	fmt.Println(socketerror.GetStatus(err))
	// Output:
	// 8080 <nil>
	// ClassTypeNotFound
}
