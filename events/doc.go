// Package events is dormant's event contract in Go: the CloudEvents types, one data struct
// per type with the rules it must satisfy, the subjects and streams of a Namespace, and the
// CloudEvents bindings for NATS (binary and structured) and HTTP (binary, structured, batch).
//
// Publishers build with New, which refuses invalid data, and send with ToNATS. Consumers
// decode with FromNATS or FromHTTP and then Decode, whose errors carry a short reason
// (ReasonOf) for the dead-letter header and metrics. The JSON Schemas in schemas/ describe the
// same data; the tests here keep the two in step, and events/eventstest lets other modules
// check that what they emit matches the schemas.
//
// The package imports no service code, so every module can depend on it.
package events
