// Package deploytest checks the deployment files against the code.
package deploytest
