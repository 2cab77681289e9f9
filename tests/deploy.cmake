# deploy.cmake - registers the offline checks of the deployment files (deploy/lint.sh: Kubernetes
# and Compose schemas, yamllint, haproxy -c, systemd-analyze verify); included from
# tests/CMakeLists.txt. The image build (deploy/check-image.sh) is not a ctest test: it needs
# root, buildah and a network mirror, and is run by its own command (deploy/README.md).
add_test(NAME deploy.lint COMMAND bash ${CMAKE_SOURCE_DIR}/deploy/lint.sh)
set_tests_properties(deploy.lint PROPERTIES LABELS deploy TIMEOUT 120)
