package events

// FullSamples gives the external schema tests the samples with every field set.
var FullSamples = fullSamples
