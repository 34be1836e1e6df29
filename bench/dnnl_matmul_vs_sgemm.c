// oneDNN fp32 matmul with the weight packed once (format_tag_any) against oneDNN's sgemm per call
// (OpenBLAS's sgemv up to 8 rows, as BLAS.sgemm does), bias added, 1 OpenMP thread, shapes of the
// bench's MLP, BERT-mini and ViT-Tiny. Thread CPU time (the machine is shared: wall time there is
// mostly other processes), median of 7 rounds. Chooses MatMulBackendCache's rule (bench/RESULTS.md).
//   gcc -O2 bench/dnnl_matmul_vs_sgemm.c -o /tmp/mm -ldnnl -lopenblas && OMP_NUM_THREADS=1 ITER=50 /tmp/mm
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <cblas.h>
static double now(){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec*1e9+t.tv_nsec;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
void bench(int M,int K,int N,int transB){
 dnnl_engine_t e; dnnl_engine_create(&e,dnnl_cpu,0);
 float*A=aligned_alloc(64,4*(size_t)M*K),*B=aligned_alloc(64,4*(size_t)K*N),*C=aligned_alloc(64,4*(size_t)M*N),*bias=aligned_alloc(64,4*N+64);
 for(size_t i=0;i<(size_t)M*K;i++)A[i]=(i%7)*0.1f; for(size_t i=0;i<(size_t)K*N;i++)B[i]=(i%5)*0.1f; for(int i=0;i<N;i++)bias[i]=1;
 dnnl_memory_desc_t s,w,d,b,uw; dnnl_dims_t sd={M,K},wd={K,N},dd={M,N},bd={1,N};
 dnnl_memory_desc_init_by_tag(&s,2,sd,dnnl_f32,dnnl_ab);
 dnnl_memory_desc_init_by_tag(&w,2,wd,dnnl_f32,dnnl_format_tag_any);
 dnnl_memory_desc_init_by_tag(&uw,2,wd,dnnl_f32,transB?dnnl_ba:dnnl_ab);
 dnnl_memory_desc_init_by_tag(&d,2,dd,dnnl_f32,dnnl_ab);
 dnnl_memory_desc_init_by_tag(&b,2,bd,dnnl_f32,dnnl_ab);
 dnnl_matmul_desc_t md; dnnl_matmul_desc_init(&md,&s,&w,&b,&d);
 dnnl_primitive_desc_t pd; if(dnnl_primitive_desc_create(&pd,&md,NULL,e,NULL)){printf("refused\n");return;}
 const char*impl; dnnl_primitive_desc_query(pd,dnnl_query_impl_info_str,0,&impl);
 dnnl_primitive_t p; dnnl_primitive_create(&p,pd);
 const dnnl_memory_desc_t*pw=dnnl_primitive_desc_query_md(pd,dnnl_query_weights_md,0);
 float*PW=aligned_alloc(64,dnnl_memory_desc_get_size(pw)+64);
 dnnl_stream_t st; dnnl_stream_create(&st,e,dnnl_stream_default_flags);
 dnnl_memory_t mu,mp; dnnl_memory_create(&mu,&uw,e,B); dnnl_memory_create(&mp,pw,e,PW);
 dnnl_primitive_desc_t rpd; dnnl_reorder_primitive_desc_create(&rpd,&uw,e,pw,e,NULL); dnnl_primitive_t rp; dnnl_primitive_create(&rp,rpd);
 dnnl_exec_arg_t ra[2]={{DNNL_ARG_FROM,mu},{DNNL_ARG_TO,mp}}; dnnl_primitive_execute(rp,st,2,ra); dnnl_stream_wait(st);
 dnnl_memory_t ms,md2,mb; dnnl_memory_create(&ms,&s,e,A); dnnl_memory_create(&md2,&d,e,C); dnnl_memory_create(&mb,&b,e,bias);
 dnnl_exec_arg_t a[4]={{DNNL_ARG_SRC,ms},{DNNL_ARG_WEIGHTS,mp},{DNNL_ARG_BIAS,mb},{DNNL_ARG_DST,md2}};
 int R=7, IT=getenv("ITER")?atoi(getenv("ITER")):200; double tm[7],tg[7];
 for(int r=0;r<R;r++){
  double t0=now(); for(int i=0;i<IT;i++){dnnl_primitive_execute(p,st,4,a);dnnl_stream_wait(st);} tm[r]=(now()-t0)/IT/1000;
  if(M<=8){ t0=now(); for(int i=0;i<IT;i++){ for(int j=0;j<M;j++){ for(int q=0;q<N;q++) C[j*N+q]=bias[q]; cblas_sgemv(CblasRowMajor,CblasNoTrans,N,K,1,B,K,A+j*K,1,1,C+j*N,1);}} tg[r]=(now()-t0)/IT/1000; continue;}
  t0=now(); for(int i=0;i<IT;i++){ for(int j=0;j<M;j++) for(int q=0;q<N;q++) C[j*N+q]=bias[q];
   dnnl_sgemm('N',transB?'T':'N',M,N,K,1,A,K,B,transB?K:N,1,C,N);} tg[r]=(now()-t0)/IT/1000;
 }
 qsort(tm,R,8,cmp);qsort(tg,R,8,cmp);
 printf("M=%d K=%d N=%d tB=%d matmul %.1f us  sgemm %.1f us  ratio %.2f  (%s)\n",M,K,N,transB,tm[3],tg[3],tm[3]/tg[3],impl);
}
int main(){
 bench(1,1000,256,1); bench(1,256,128,1); bench(8,1000,256,1); bench(32,128,16,1); bench(32,128,1,1); bench(32,1000,256,1); bench(32,256,128,1); bench(4096,128,128,0); bench(4096,128,512,0); bench(4096,512,128,0); bench(197,192,192,0); bench(394,192,768,0); bench(394,768,192,0); bench(6304,192,192,0);

 return 0;}
