package trigger

import "strconv"

// SocketActivityKind is WinRT's SocketActivityKind: the kind of a socket
// the broker holds.
type SocketActivityKind int32

// The SocketActivityKind values, numbered as in WinRT.
const (
	KindNone                 SocketActivityKind = 0
	KindStreamSocketListener SocketActivityKind = 1
	KindDatagramSocket       SocketActivityKind = 2
	KindStreamSocket         SocketActivityKind = 3
)

var kindNames = [...]string{"None", "StreamSocketListener", "DatagramSocket", "StreamSocket"}

// String returns the WinRT name of k.
func (k SocketActivityKind) String() string { return enumName(kindNames[:], int(k)) }

// SocketActivityTriggerReason is WinRT's SocketActivityTriggerReason: why
// a SocketActivityTrigger was raised.
type SocketActivityTriggerReason int32

// The SocketActivityTriggerReason values, numbered as in WinRT.
const (
	ReasonNone SocketActivityTriggerReason = 0
	// SocketActivity: data arrived on a held stream or datagram socket.
	SocketActivity SocketActivityTriggerReason = 1
	// ConnectionAccepted: a held listener accepted a connection.
	ConnectionAccepted SocketActivityTriggerReason = 2
	// KeepAliveTimerExpired: a held socket was quiet for the keep-alive
	// time given to TransferOwnership.
	KeepAliveTimerExpired SocketActivityTriggerReason = 3
	// SocketClosed: the peer closed a held stream socket, or it failed.
	SocketClosed SocketActivityTriggerReason = 4
)

var reasonNames = [...]string{"None", "SocketActivity", "ConnectionAccepted", "KeepAliveTimerExpired", "SocketClosed"}

// String returns the WinRT name of r.
func (r SocketActivityTriggerReason) String() string { return enumName(reasonNames[:], int(r)) }

// ControlChannelTriggerStatus is WinRT's ControlChannelTriggerStatus, what
// WaitForPushEnabled reports.
type ControlChannelTriggerStatus int32

// The ControlChannelTriggerStatus values, numbered as in WinRT. netrun
// reports SoftwareSlotAllocated, TransportDisconnected and PolicyError;
// the hardware values exist for scripts written against WinRT.
const (
	HardwareSlotRequested ControlChannelTriggerStatus = 0
	SoftwareSlotAllocated ControlChannelTriggerStatus = 1
	HardwareSlotAllocated ControlChannelTriggerStatus = 2
	PolicyError           ControlChannelTriggerStatus = 3
	SystemError           ControlChannelTriggerStatus = 4
	TransportDisconnected ControlChannelTriggerStatus = 5
	ServiceUnavailable    ControlChannelTriggerStatus = 6
)

var statusNames = [...]string{"HardwareSlotRequested", "SoftwareSlotAllocated", "HardwareSlotAllocated",
	"PolicyError", "SystemError", "TransportDisconnected", "ServiceUnavailable"}

// String returns the WinRT name of s.
func (s ControlChannelTriggerStatus) String() string { return enumName(statusNames[:], int(s)) }

// ControlChannelTriggerResourceType is WinRT's
// ControlChannelTriggerResourceType: the slot a channel asks for.
type ControlChannelTriggerResourceType int32

// The ControlChannelTriggerResourceType values, numbered as in WinRT.
const (
	RequestSoftwareSlot ControlChannelTriggerResourceType = 0
	RequestHardwareSlot ControlChannelTriggerResourceType = 1
)

var resourceNames = [...]string{"RequestSoftwareSlot", "RequestHardwareSlot"}

// String returns the WinRT name of r.
func (r ControlChannelTriggerResourceType) String() string { return enumName(resourceNames[:], int(r)) }

func enumName(names []string, v int) string {
	if v >= 0 && v < len(names) {
		return names[v]
	}
	return strconv.Itoa(v)
}
