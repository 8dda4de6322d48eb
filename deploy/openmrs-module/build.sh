#!/usr/bin/env bash
# Builds and tests the dormant OpenMRS module with nothing but a JDK (17+): compiles the
# compile-only OpenMRS API stubs, compiles the module against them with every lint as an error,
# compiles and runs the plain-Java tests against a real HTTP server, and packages
# build/dormant-<version>.omod (config.xml, moduleApplicationContext.xml, module classes; no stubs,
# no tests), then checks the package's contents. Works offline and from any directory.
# Arguments go to the test runner, e.g. -only=SpoolTest runs only the tests whose Class.method name
# has "SpoolTest". It also checks that pom.xml builds the same module (version, OpenMRS, Java release).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

version="$(sed -n 's:.*<version>\(.*\)</version>.*:\1:p' src/main/resources/config.xml | head -n1)"
[ -n "$version" ] || { echo "build.sh: no <version> in src/main/resources/config.xml" >&2; exit 1; }
# pom.xml (the Maven build against the real openmrs-api) must make the same module as this script.
pom_version="$(sed -n '/<artifactId>dormant-omod<\/artifactId>/,/<version>/s:.*<version>\(.*\)</version>.*:\1:p' pom.xml)"
[ "$pom_version" = "$version" ] ||
	{ echo "build.sh: pom.xml version '$pom_version' differs from config.xml version '$version'" >&2; exit 1; }
require="$(sed -n 's:.*<require_version>\(.*\)</require_version>.*:\1:p' src/main/resources/config.xml)"
pom_openmrs="$(sed -n 's:.*<openmrs.version>\(.*\)</openmrs.version>.*:\1:p' pom.xml)"
[ "$pom_openmrs" = "$require" ] ||
	{ echo "build.sh: pom.xml openmrs.version '$pom_openmrs' differs from config.xml require_version '$require'" >&2; exit 1; }
# The module targets Java 11, the oldest Java with java.net.http and one OpenMRS 2.2+ runs on.
java_release=11
pom_release="$(sed -n 's:.*<maven.compiler.release>\(.*\)</maven.compiler.release>.*:\1:p' pom.xml)"
[ "$pom_release" = "$java_release" ] ||
	{ echo "build.sh: pom.xml maven.compiler.release '$pom_release' is not $java_release" >&2; exit 1; }
out="$here/build"
omod="$out/dormant-$version.omod"

for tool in javac jar java; do
	command -v "$tool" >/dev/null || { echo "build.sh: $tool not found (a JDK 17+ is needed)" >&2; exit 1; }
done

rm -rf "$out"
mkdir -p "$out/stubs" "$out/classes" "$out/test-classes" "$out/omod"

sources() { find "$1" -name '*.java' | LC_ALL=C sort; }
# The tests may use the JDK here (17).
javac_opts=(-encoding UTF-8 -Xlint:all -Werror -implicit:none)

echo "== compile API stubs"
javac "${javac_opts[@]}" --release "$java_release" -d "$out/stubs" $(sources api-stubs)

echo "== compile module"
javac "${javac_opts[@]}" --release "$java_release" -cp "$out/stubs" -d "$out/classes" $(sources src/main/java)

echo "== compile tests"
# Test classes are AutoCloseable (the runner closes them) and may throw InterruptedException from
# close(); that "try" lint is about try-with-resources, which the runner does not use.
javac "${javac_opts[@]}" --release 17 -Xlint:-try -cp "$out/stubs:$out/classes" -d "$out/test-classes" $(sources src/test/java)

echo "== run tests"
# Every test class: src/test/java/**/*Test.java (HookFixture, FakeIngest and the runner are helpers).
test_classes=$(cd src/test/java && find . -name '*Test.java' | LC_ALL=C sort |
	sed -e 's:^\./::' -e 's:\.java$::' -e 's:/:.:g')
[ -n "$test_classes" ] || { echo "build.sh: no test classes found" >&2; exit 1; }
# pipefail makes the pipeline fail when the runner does (any failure, or no test at all).
if ! java -cp "$out/stubs:$out/classes:$out/test-classes" org.openmrs.module.dormant.TestRunner \
	$test_classes "$@" | tee "$out/test-output.txt"; then
	echo "build.sh: tests failed" >&2
	exit 1
fi

echo "== package $omod"
cp -R "$out/classes/." "$out/omod/"
cp src/main/resources/config.xml src/main/resources/moduleApplicationContext.xml "$out/omod/"
(cd "$out/omod" && jar --create --file "$omod" --no-manifest .)

echo "== check package contents"
listing="$(jar tf "$omod")"
for want in config.xml moduleApplicationContext.xml \
	org/openmrs/module/dormant/DormantSessionListener.class \
	org/openmrs/module/dormant/DormantActivator.class \
	org/openmrs/module/dormant/Dispatcher.class \
	org/openmrs/module/dormant/Spool.class; do
	grep -qx "$want" <<<"$listing" || { echo "build.sh: $want missing from $omod" >&2; exit 1; }
done
# Anything outside the module's package (a stub such as org/openmrs/User.class) would shadow
# OpenMRS's own classes at run time; tests have no business in the package either.
stray="$(grep -v -e '^config\.xml$' -e '^moduleApplicationContext\.xml$' -e '^org/$' -e '^org/openmrs/$' \
	-e '^org/openmrs/module/$' -e '^org/openmrs/module/dormant/' <<<"$listing" || true)"
[ -z "$stray" ] || { echo "build.sh: unexpected entries in $omod:" >&2; echo "$stray" >&2; exit 1; }
if grep -q -e 'Test' -e 'FakeIngest' <<<"$listing"; then
	echo "build.sh: test classes found in $omod" >&2
	exit 1
fi
# The classes named in the descriptors must be in the package.
for cls in $(sed -n 's:.*<activator>\(.*\)</activator>.*:\1:p' src/main/resources/config.xml) \
	$(sed -n 's:.*class="\([^"]*\)".*:\1:p' src/main/resources/moduleApplicationContext.xml); do
	grep -qx "${cls//.//}.class" <<<"$listing" || { echo "build.sh: $cls (named in a descriptor) missing" >&2; exit 1; }
done

# Java 11 class files (major 55), so an OpenMRS on Java 11 can load the module.
javap -v -cp "$omod" org.openmrs.module.dormant.DormantSessionListener | grep -q 'major version: 55' ||
	{ echo "build.sh: module classes are not Java 11 class files" >&2; exit 1; }

echo "built $omod ($(wc -c <"$omod") bytes, $(grep -c '\.class$' <<<"$listing") classes)"
