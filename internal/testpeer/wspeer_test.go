package testpeer_test

import (
	"testing"

	"github.com/netrun/netrun/internal/testpeer"
)

// TestWSPeers connects each kind of client to each kind of server: both
// start, agree on a subprotocol and print their ready lines.
func TestWSPeers(t *testing.T) {
	for _, server := range testpeer.WSPeerKinds() {
		for _, client := range testpeer.WSPeerKinds() {
			t.Run(string(client)+"_to_"+string(server), func(t *testing.T) {
				srv := testpeer.StartWSServer(t, server, testpeer.WSPeerOptions{Protocols: []string{"b", "a"}})
				if srv.URL == "" {
					t.Fatal("no URL")
				}
				c := testpeer.StartWSClient(t, client, srv.URL, testpeer.WSPeerOptions{Protocols: []string{"a"}})
				c.WaitOutput(t, "open a")
			})
		}
	}
}
